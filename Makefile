# korus-research: the front door. `make` builds everything, `make test` checks it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KR := $(BIN)/korus-research
INSTALLED := $(VENV)/.installed
# jobs run at once (notebooks 01-05 and 07 are independent; 06 reads their results); `make JOBS=1` runs one at a time
JOBS ?= 2
ifeq ($(MAKELEVEL),0)
ifeq ($(filter clean clean-all,$(MAKECMDGOALS)),)
MAKEFLAGS += -j$(JOBS)
endif
endif

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
REPORTS := $(patsubst notebooks/%.ipynb,reports/%.ipynb,$(NOTEBOOKS))
# what the notebooks run (the report's and the benchmark's code do not rerun them)
PACKAGE_SRC := $(filter-out %/report.py %/bench.py %/dictionary.py %/regtables.py %/citations.csv %/bench_store.py %/vintages.py %/explorer.py %/app.py %/runner.py %/comparison.py %/bench_studies.py,$(shell find src/korus_research -name '*.py' -o -name '*.csv'))
# Which release of each raw file: pinned (the registry's sha256, the default) or locked (the lock file
# data-vintages.lock.json that `make update` writes); `make VINTAGES=locked` builds on the locked releases
VINTAGES ?= $(or $(KORUS_VINTAGES),pinned)
export KORUS_VINTAGES := $(VINTAGES)
DATA_SRC := $(addprefix src/korus_research/,registry.py fetch.py) \
	$(if $(filter locked,$(VINTAGES)),$(wildcard data-vintages.lock.json))
PREP_SRC := $(addprefix src/korus_research/,parsers.py prepare.py schemas.py partners.py io.py errors.py)
# the fetch's stamp: newer than every raw file once they are verified; an edited raw file is newer
# than it, so `make` fetches again (restoring the file) and rebuilds the tables
# one stamp per vintage mode, so that switching VINTAGES fetches again and rebuilds
RAW_STAMP := data/raw/.fetched$(if $(filter locked,$(VINTAGES)),-locked)
# the releases kept by `fetch --update` (data/raw/vintages/) are not inputs of the build
# (nor are the API clients' cached answers, *.json: they are inputs of notebook 08 only)
RAW_FILES := $(shell find data/raw -path data/raw/vintages -prune -o -type f ! -name '*.json' ! -name '.*' -print 2>/dev/null)
API_CACHE := $(shell find data/raw -path data/raw/vintages -prune -o -type f -name '*.json' ! -name 'MANIFEST.json' -print 2>/dev/null)
TABLES := census_monthly census_annual enduse_imports comtrade_hs2 comtrade_vintage_overlap \
	comtrade_chapter_matches fx_krw_usd_monthly fx_krw_usd_annual bis_eer_monthly fred_macro \
	worldbank_indicators benchmarks gravity_dta gravity_wiod gravity_oecd cepii_dist
PROCESSED := $(patsubst %,data/processed/%.parquet,$(TABLES))
NBVAL_SANITIZE := tests/nbval_sanitize.cfg
# nbval runs the notebooks in this order into one study folder: the joint study (06) reads every other
# notebook's results, 07 included, so it runs last
NBVAL_ORDER := $(filter-out notebooks/06_joint_study.ipynb,$(NOTEBOOKS)) notebooks/06_joint_study.ipynb
# processes of the tests (pytest-xdist); `make test TEST_JOBS=1` runs one at a time
TEST_JOBS ?= 2
XDIST = $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS))
# the notebooks run one at a time: kernels started at the same moment by two pytest-xdist workers can die
# before they reply (seen once in a fresh clone)
NBVAL = $(BIN)/pytest -q --nbval-sanitize-with $(NBVAL_SANITIZE) -p no:cacheprovider --nbval

# One study (make study PARTNER=X [BASE=] [COMPARE=] [ENTRY=YYYY-MM-DD] [CONTROLS=]); empty = derived
PARTNER ?= KOR
BASE ?=
COMPARE ?=
ENTRY ?=
CONTROLS ?= default
# the explorer's port (make app)
APP_PORT ?= 5006
# Several studies on Dask: PARTNERS x GRID (make studies PARTNERS=agreements GRID=default); PARTNERS=agreements:
# every US agreement partner. GRID: none (one study per partner, parameters derived) | default (compare year
# entry+4, +2, +6) | years | JSON. SCHEDULER: an existing cluster (tcp://host:8786; default $$DASK_SCHEDULER),
# else a local one of WORKERS processes (default: one per core). STUDY_NOTEBOOKS: e.g. 01,06
PARTNERS ?= KOR COL PAN
GRID ?= none
SCHEDULER ?= $(DASK_SCHEDULER)
WORKERS ?=
STUDY_NOTEBOOKS ?=
STUDY_ARGS = $(if $(ENTRY),--entry $(ENTRY)) $(if $(BASE),--base $(BASE)) $(if $(COMPARE),--compare $(COMPARE)) \
	--controls $(CONTROLS)

export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.DEFAULT_GOAL := all
# a recipe that fails leaves no target behind
.DELETE_ON_ERROR:
.PHONY: all env data update processed notebooks report study studies app bench bench-store bench-studies test test-unit test-studies test-notebooks lint lab \
	refresh-notebooks clean clean-all help

all: env data processed notebooks report ## set up the environment, get the data, run every notebook, build the report

env: $(INSTALLED) ## create .venv with python3 -m venv and install the pinned dependencies

# uv (the one on PATH, else pip-installs it into the venv) installs several times faster than pip;
# if uv cannot be had or fails, pip installs instead. `make env UV=` uses pip only.
UV ?= uv
$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(UV)" ] && uv=$$(command -v "$(UV)" || { $(BIN)/python -m pip install --quiet \
			--disable-pip-version-check uv >&2 && echo $(BIN)/uv; }) \
		&& echo "$$uv pip install --compile-bytecode -c constraints.txt -e .[dev]" \
		&& "$$uv" pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[dev]"; \
	then :; else \
		echo "uv unavailable or failed: $(BIN)/python -m pip install -c constraints.txt -e .[dev]"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"; \
	fi
	@touch $@

data: $(RAW_STAMP) ## copy (mirror) or download every raw file into data/raw, sha256-verified

$(RAW_STAMP): $(DATA_SRC) $(RAW_FILES) | $(INSTALLED)
	@rm -f data/raw/.fetched data/raw/.fetched-locked
	$(KR) fetch
	@touch $@

update: | $(INSTALLED) ## fetch the current official releases (FILES="census/country.xlsx"; default: all that have one), verify and lock them, report revisions in reports/revisions/
	$(KR) fetch --update $(FILES)

processed: $(PROCESSED) ## build the validated parquet tables in data/processed (raw files verified first)

$(PROCESSED) &: $(RAW_STAMP) $(PREP_SRC) | $(INSTALLED)
	$(KR) prepare

notebooks: $(REPORTS) ## execute every notebook of the default study with papermill into reports/ (JOBS at once)

# The default study: only these runs write data/processed/results/default (KORUS_STUDY_SCOPE=default);
# its results are in the run records data/processed/results/default/runs/<nn>.json.
reports/%.ipynb: notebooks/%.ipynb $(PROCESSED) $(PACKAGE_SRC) | $(INSTALLED)
	KORUS_STUDY_SCOPE=default $(KR) run $* --quiet

# Notebook 08 reads what the API clients cached (korus-research's census_api, comtrade_api, dataweb, services).
reports/08_beyond_the_mirror.ipynb: $(API_CACHE)

# The synthesis reads the estimates of notebooks 01-05 (it re-estimates nothing).
reports/06_joint_study.ipynb: $(filter-out reports/06_joint_study.ipynb,$(REPORTS))

report: reports/index.html ## build the static HTML report of the default study (reports/index.html)

reports/index.html: $(REPORTS) $(addprefix src/korus_research/,report.py formatting.py dictionary.py regtables.py tables/citations.csv) \
	references.bib CITATION.cff
	$(KR) report

study: $(PROCESSED) | $(INSTALLED) ## one study into reports/studies/<id>/ (make study PARTNER=COL [BASE= COMPARE= ENTRY= CONTROLS=])
	$(KR) study --partner $(PARTNER) $(STUDY_ARGS) --jobs $(JOBS)

study-%: $(PROCESSED) | $(INSTALLED)
	$(KR) study --partner $* $(STUDY_ARGS) --jobs 1

studies: $(PROCESSED) | $(INSTALLED) ## PARTNERS x GRID studies on a Dask cluster (local, or SCHEDULER=tcp://host:8786), resumable, then reports/studies.html
	$(if $(strip $(PARTNERS)),,$(error PARTNERS is empty: give ISO3 codes, e.g. PARTNERS="KOR COL", or PARTNERS=agreements))
	$(KR) studies --partners $(PARTNERS) --grid '$(GRID)' $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
		$(if $(WORKERS),--workers $(WORKERS)) $(if $(STUDY_NOTEBOOKS),--notebooks $(STUDY_NOTEBOOKS))

bench-studies: $(PROCESSED) | $(INSTALLED) ## the same three studies serially and on a 2-worker local cluster: speed-up and memory in reports/bench_studies.json
	$(BIN)/python -m korus_research.bench_studies $(if $(BENCH_NOTEBOOKS),--notebooks $(BENCH_NOTEBOOKS))

bench: $(PROCESSED) | $(INSTALLED) ## time the gravity estimator against pyfixest and a dummy GLM (about 8 minutes)
	$(BIN)/python -m korus_research.bench

bench-store: $(PROCESSED) | $(INSTALLED) ## product store at scale: ~50M SYNTHETIC-EXPANDED HS10 lines through DuckDB (<2 GB) vs pandas on a tenth (about 3 minutes)
	$(BIN)/python -m korus_research.bench_store

app: $(PROCESSED) | $(INSTALLED) ## the interactive explorer on http://localhost:$(APP_PORT)/ (APP_PORT= for another port; Ctrl-C stops it)
	$(BIN)/python -m korus_research.app --port $(APP_PORT) --show

test: $(PROCESSED) | $(INSTALLED) ## run pytest (with a one-partner smoke study), then nbval over notebooks/ (TEST_JOBS at once)
	$(BIN)/pytest -q -m "not heavy" $(XDIST) -p no:cacheprovider tests
	$(NBVAL) $(NBVAL_ORDER)

test-unit: $(PROCESSED) | $(INSTALLED)
	$(BIN)/pytest -q -m "not heavy" $(XDIST) -p no:cacheprovider tests

test-studies: $(PROCESSED) | $(INSTALLED) ## the heavier smoke studies (MEX, SLV, CHN with a hypothetical entry): about 9 minutes
	$(BIN)/pytest -q -m heavy tests/test_studies_smoke.py

test-notebooks: $(PROCESSED) | $(INSTALLED)
	$(NBVAL) $(NBVAL_ORDER)

lint: | $(INSTALLED) ## ruff over src and tests
	$(BIN)/ruff check src tests

lab: $(PROCESSED) | $(INSTALLED) ## open JupyterLab on notebooks/ (runs write to their own study folders, never the default study)
	$(BIN)/jupyter lab --notebook-dir=notebooks

refresh-notebooks: $(PROCESSED) | $(INSTALLED) ## re-execute notebooks/ in place (the nbval baselines)
	@for nb in $(NBVAL_ORDER); do \
		echo "refresh $$nb"; \
		(cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=1200 $$(basename $$nb)) || exit 1; \
	done

clean: ## remove build products (processed tables, results, reports); keeps data/raw and .venv
	rm -rf reports
	find data/processed -mindepth 1 ! -name .gitkeep -exec rm -rf {} +

clean-all: clean ## also remove data/raw and the environment
	find data/raw -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
	rm -rf $(VENV)

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'
