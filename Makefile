# korus-research: the front door. `make` builds everything, `make test` checks it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KR := $(BIN)/korus-research
INSTALLED := $(VENV)/.installed

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
REPORTS := $(patsubst notebooks/%.ipynb,reports/%.ipynb,$(NOTEBOOKS))
PACKAGE_SRC := $(shell find src/korus_research -name '*.py')
DATA_SRC := $(addprefix src/korus_research/,registry.py fetch.py)
PREP_SRC := $(addprefix src/korus_research/,parsers.py prepare.py schemas.py partners.py io.py errors.py)
RAW_MANIFEST := data/raw/MANIFEST.json
TABLES := census_monthly census_annual enduse_imports comtrade_hs2 comtrade_vintage_overlap \
	comtrade_chapter_matches fx_krw_usd_monthly fx_krw_usd_annual bis_eer_monthly fred_macro \
	worldbank_indicators benchmarks gravity_dta gravity_wiod gravity_oecd cepii_dist
PROCESSED := $(patsubst %,data/processed/%.parquet,$(TABLES))
NBVAL_SANITIZE := tests/nbval_sanitize.cfg
PARTNER ?= KOR
PARTNERS ?= KOR COL PAN
STUDY_NOTEBOOKS := $(basename $(notdir $(NOTEBOOKS)))
# Key results each notebook saves (io.save_results) for the synthesis to read, not recompute.
RESULTS := data/processed/results/KOR
RESULTS_01 := $(addprefix $(RESULTS)/,balance_annual.parquet balance_change.parquet auto_imports.parquet)
RESULTS_02 := $(addprefix $(RESULTS)/,decomposition_contributions.parquet decomposition_consecutive.parquet \
	decomposition_autos_bases.parquet decomposition_autos_share.parquet decomposition_shift_share.parquet \
	decomposition_lmdi.parquet)
RESULTS_03 := $(addprefix $(RESULTS)/,effects_event_study.parquet effects_pretrend.parquet effects_dollars.parquet \
	effects_did.parquet effects_did_dollars.parquet effects_synth_dollars.parquet effects_placebo.parquet)
RESULTS_04 := $(addprefix $(RESULTS)/,gravity_estimates.parquet gravity_pe.parquet gravity_info.parquet gravity_ge.parquet)
RESULTS_05 := $(addprefix $(RESULTS)/,macro_coefficients.parquet macro_balance_parts.parquet macro_share.parquet)
RESULTS_06 := $(addprefix $(RESULTS)/,synthesis_attribution.parquet synthesis_estimates.parquet \
	synthesis_literature.parquet synthesis_findings.parquet)

export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.DEFAULT_GOAL := all
.PHONY: all env data processed notebooks results report study studies bench test test-unit test-notebooks lint lab \
	refresh-notebooks clean clean-all help

all: env data processed notebooks results report ## set up the environment, get the data, run every notebook, build the report

env: $(INSTALLED) ## create .venv with python3 -m venv and install the pinned dependencies

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $@

data: $(RAW_MANIFEST) ## copy (mirror) or download every raw file into data/raw, sha256-verified

$(RAW_MANIFEST): $(DATA_SRC) | $(INSTALLED)
	$(KR) fetch

processed: $(PROCESSED) ## build the validated parquet tables in data/processed

$(PROCESSED) &: $(RAW_MANIFEST) $(PREP_SRC) | $(INSTALLED)
	$(KR) prepare

notebooks: $(REPORTS) ## execute every notebook with papermill into reports/

reports/%.ipynb: notebooks/%.ipynb $(PROCESSED) $(PACKAGE_SRC) | $(INSTALLED)
	$(KR) run $* --quiet

# A result file is made by its notebook's run (papermill writes the executed copy last,
# hence the touch); the notebook is rerun when a result is missing.
define RESULT_RULE
$$(RESULTS_$(1)): reports/$(2).ipynb
	@test -f $$@ || { rm -f $$<; $$(MAKE) --no-print-directory $$<; }
	@touch $$@
endef
$(eval $(call RESULT_RULE,01,01_balance_overview))
$(eval $(call RESULT_RULE,02,02_decomposition))
$(eval $(call RESULT_RULE,03,03_agreement_effects))
$(eval $(call RESULT_RULE,04,04_gravity))
$(eval $(call RESULT_RULE,05,05_macro_drivers))
$(eval $(call RESULT_RULE,06,06_joint_study))

# The synthesis reads the results of notebooks 01-05 (it re-estimates nothing).
reports/06_joint_study.ipynb: $(RESULTS_01) $(RESULTS_02) $(RESULTS_03) $(RESULTS_04) $(RESULTS_05)

results: $(RESULTS_01) $(RESULTS_02) $(RESULTS_03) $(RESULTS_04) $(RESULTS_05) $(RESULTS_06) ## the saved key results of the notebooks (data/processed/results)

report: reports/index.html ## build the static HTML report (reports/index.html)

reports/index.html: $(REPORTS) $(RESULTS_06) src/korus_research/report.py
	$(KR) report

test: test-unit test-notebooks ## run pytest, then nbval over notebooks/

test-unit: $(PROCESSED) | $(INSTALLED)
	$(BIN)/pytest -q tests

test-notebooks: $(PROCESSED) | $(INSTALLED)
	$(BIN)/pytest -q --nbval notebooks --nbval-sanitize-with $(NBVAL_SANITIZE) -p no:cacheprovider

study: $(PROCESSED) | $(INSTALLED) ## notebooks 01-06 for one partner into reports/PARTNER (make study PARTNER=COL)
	@for nb in $(STUDY_NOTEBOOKS); do \
		KORUS_REPORTS=reports/$(PARTNER) $(KR) run $$nb -p partner $(PARTNER) -o reports/$(PARTNER) --quiet || exit 1; \
	done
	KORUS_REPORTS=reports/$(PARTNER) $(KR) report -o reports/$(PARTNER)

study-%: $(PROCESSED) | $(INSTALLED)
	@$(MAKE) --no-print-directory study PARTNER=$*

studies: $(addprefix study-,$(PARTNERS)) ## every partner of PARTNERS (parallel with make -j2) and reports/studies.html
	$(KR) compare $(PARTNERS)

bench: $(PROCESSED) | $(INSTALLED) ## time the gravity estimator against pyfixest and a dummy GLM (about 8 minutes)
	$(BIN)/python -m korus_research.bench

lint: | $(INSTALLED) ## ruff over src and tests
	$(BIN)/ruff check src tests

lab: $(PROCESSED) | $(INSTALLED) ## open JupyterLab on notebooks/
	$(BIN)/jupyter lab --notebook-dir=notebooks

refresh-notebooks: $(PROCESSED) | $(INSTALLED) ## re-execute notebooks/ in place (the nbval baselines)
	@for nb in $(NOTEBOOKS); do \
		echo "refresh $$nb"; \
		(cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=1200 $$(basename $$nb)) || exit 1; \
	done

clean: ## remove build products (processed tables, reports); keeps data/raw and .venv
	rm -rf reports
	find data/processed -mindepth 1 ! -name .gitkeep -exec rm -rf {} +

clean-all: clean ## also remove data/raw and the environment
	find data/raw -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
	rm -rf $(VENV)

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'
