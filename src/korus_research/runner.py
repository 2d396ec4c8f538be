"""Many studies at once, on Dask distributed: every partner times a sensitivity grid.

:func:`run_studies` builds one :class:`~korus_research.study.Study` per partner and grid
point and runs its notebooks as tasks on a Dask cluster: a ``distributed.LocalCluster``
sized to the machine (one single-threaded worker process per core, the machine's memory
shared between them) by default, or an existing cluster given by its scheduler address
(``scheduler=`` or ``DASK_SCHEDULER=tcp://host:8786``). ``scheduler="serial"`` runs the same
tasks one after another in this process (the benchmark's baseline).

Tasks
-----
One task per notebook of a study, with the dependencies of the study: notebooks 01-05 and 07
are independent, 06 (the joint study) reads their results and waits for them, then the
study's report. Per notebook rather than per study because the notebooks of one study
differ thirty-fold in run time (01 about 5 s, 04 and 07 a minute or more): as separate tasks
they spread over the workers (a few studies on many workers finish in the time of their
longest chain, not of seven notebooks in a row), a failing notebook costs only itself and
06, and an interrupted run resumes notebook by notebook. Longer notebooks are given a higher
priority, and earlier studies before later ones, so studies finish one after another rather
than all at the end.

Each task runs the notebook as ``korus-research run`` in a child process (papermill starts a
kernel of its own anyway) with the paths passed explicitly in its environment: the processed
tables from the shared data folder (:func:`korus_research.config.data_processed` on the
client, e.g. ``data/processed``, which every worker must see at the same path), the results
into that folder's ``results/<study id>/`` (never ``default/``: ``KORUS_STUDY_SCOPE=study``)
and the executed notebooks and figures into ``reports/studies/<study id>/``. A task never
raises: it returns its status, so one failing study never stops the others.

Resume
------
A notebook is *up to date*, and not run again, when its stored run record
(``runs/<nb>.json``) finished for this study id (the id hashes the study's parameters), the
processed tables it read still have the sha256 it recorded, its executed copy is in the
study's report folder, and the code is the same: the sha256 of the package sources the
notebooks run and of the notebook's cells (:func:`code_fingerprint`, kept by the runner in
``runner/<nb>.json`` beside the run record) and the package version; or, for a run made
without the runner (``make study``), the same git commit with no uncommitted change under
``src/`` and ``notebooks/`` and the notebook's default parameters. Notebook 06 is up to date
only if it ran after every notebook it reads and none of them runs again. A study whose
notebooks are all up to date is skipped as "up to date".

References
----------
Rocklin, M. (2015). Dask: parallel computation with blocked algorithms and task scheduling.
    Proceedings of the 14th Python in Science Conference, 130-136.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import config, synthesis
from .cli import STUDY_NOTEBOOKS
from .errors import KorusError, ParameterError
from .results import _write_json  # the store's atomic JSON write

#: Study parameters a grid (or a partner's own mapping) may set; the partner is given apart.
STUDY_KEYS = ("entry", "base_year", "compare_year", "controls")
#: Named sensitivity grids: Study parameters -> values. ``0`` derives the year from the entry
#: date (Study.build's rule); ``"entry+2"`` is the year of entry plus 2 for each partner (not
#: applicable to a partner without an entry date).
GRIDS: dict[str, dict[str, list]] = {
    # one study per partner, every parameter derived (what `make study` runs)
    "none": {},
    # the compare year: two years earlier and later than the derived one (entry + 4)
    "default": {"compare_year": [0, "entry+2", "entry+6"]},
    # the base year as well: the derived one (entry - 1) and two years before it
    "years": {"base_year": [0, "entry-3"], "compare_year": [0, "entry+2", "entry+6"]},
}
#: Notebook stems in the order a study runs them (those of ``korus-research study``; 06 reads the others: last).
STEMS = {stem[:2]: stem for stem in STUDY_NOTEBOOKS}
ORDER = tuple(STEMS)
#: What each notebook reads of the others' results.
INPUTS = {"06": synthesis.INPUT_NOTEBOOKS}
#: Priority within a study: the longest notebooks first (measured on Korea: 07 70 s, 04 60 s,
#: 03 40 s, 08 12 s, 05 10 s, 02 7 s, 01 5 s, 06 6 s), so the last task of a run is a short one.
WEIGHT = {"07": 8, "04": 7, "03": 6, "08": 5, "05": 4, "02": 3, "01": 2, "06": 1}
#: Package files that the notebooks do not run (the Makefile's PACKAGE_SRC filter, plus the
#: runner's own modules): a change in them leaves every study up to date.
NOT_RUN_BY_NOTEBOOKS = frozenset({
    "report.py", "bench.py", "dictionary.py", "regtables.py", "tables/citations.csv", "bench_store.py",
    "vintages.py", "explorer.py", "app.py", "runner.py", "comparison.py", "bench_studies.py"})
#: Notebook parameters the runner sets on a cluster (not Study parameters: the results do not
#: depend on them). Each task has one core; notebook 07 would otherwise start 2 bootstrap
#: processes per task and oversubscribe the workers. Serially the notebooks keep their defaults.
ON_CLUSTER = {"07": {"jobs": 1}}
#: A notebook still running after this many seconds is stopped and its study marked failed.
TIMEOUT = 3600
SUMMARY_COLUMNS = ["study", "partner", "parameters", "status", "notebooks run", "skipped sections", "reason",
                   "seconds"]
_RELATIVE = re.compile(r"^entry\s*([+-])\s*(\d+)$")


# --------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class StudySpec:
    """One study of a run: the partner, the notebook parameters that define it (only those
    given: a missing year is derived) and the built :class:`Study`, or why it cannot be run."""

    partner: str
    parameters: dict                       # papermill parameters: partner and the study keys given
    study: object | None = None            # korus_research.study.Study
    status: str = ""                       # "" (to run), "invalid" or "not applicable"
    reason: str = ""

    @property
    def study_id(self) -> str:
        return self.study.study_id if self.study is not None else ""

    def label(self) -> str:
        """The study's parameters in words: ``2011->2016``, plus entry and controls when not derived."""
        if self.study is None:
            return ", ".join(f"{k}={v}" for k, v in self.parameters.items() if k != "partner")
        from .comparison import study_label

        return study_label(self.study, "->")


def resolve_grid(grid) -> dict[str, list]:
    """A grid by name (:data:`GRIDS`), as a mapping, or as JSON text (``'{"controls": [...]}'``);
    every key a Study parameter (:data:`STUDY_KEYS`), every value a list."""
    if grid is None:
        grid = "none"
    if isinstance(grid, str):
        text = grid.strip()
        if text in GRIDS:
            grid = GRIDS[text]
        elif text.startswith("{"):
            try:
                grid = json.loads(text)
            except json.JSONDecodeError as err:
                raise ParameterError("grid", grid, f"a name ({', '.join(GRIDS)}) or a JSON object",
                                     f"not JSON: {err}") from None
        else:
            raise ParameterError("grid", grid, f"a name ({', '.join(GRIDS)}) or a JSON object of Study parameters "
                                 "to lists, e.g. '{\"compare_year\": [0, \"entry+2\"]}'")
    if not isinstance(grid, Mapping):
        raise ParameterError("grid", grid, "a mapping of Study parameters to lists of values")
    out = {}
    for key, values in grid.items():
        if key not in STUDY_KEYS:
            raise ParameterError("grid", key, STUDY_KEYS, "not a Study parameter (the partner is given apart)")
        values = list(values) if isinstance(values, list | tuple) else [values]
        if not values:
            raise ParameterError(f"grid[{key!r}]", values, "at least one value")
        out[key] = values
    return out


def expand_partners(partners) -> list:
    """ISO3 codes (``"agreements"``: every partner of a US agreement in force by 2019, as
    ``korus-research partners --agreements``) or mappings ``{"partner": ..., <Study parameter>: ...}``."""
    if isinstance(partners, str | Mapping):
        partners = [partners]
    out: list = []
    for item in partners:
        if isinstance(item, Mapping):
            if "partner" not in item:
                raise ParameterError("partners", dict(item), "a mapping with a 'partner' key")
            bad = [k for k in item if k != "partner" and k not in STUDY_KEYS]
            if bad:
                raise ParameterError("partners", bad[0], ["partner", *STUDY_KEYS], "not a Study parameter")
            out.append(dict(item))
        elif isinstance(item, str) and item.strip().lower() == "agreements":
            out += agreement_partners()
        elif isinstance(item, str) and item.strip():
            out += [p for p in re.split(r"[\s,]+", item.strip()) if p]
        else:
            raise ParameterError("partners", item, "ISO3 codes, 'agreements', or mappings with a 'partner'")
    if not out:
        raise ParameterError("partners", partners, "at least one ISO3 code, or 'agreements'")
    return out


def agreement_partners() -> list[str]:
    """Every partner of a US agreement in force by :data:`korus_research.study.LAST_ENTRY_YEAR`,
    in order of entry into force."""
    from .agreements import agreements_table
    from .study import LAST_ENTRY_YEAR

    table = agreements_table()
    table = table[table["entry_into_force"].dt.year <= LAST_ENTRY_YEAR]
    return list(dict.fromkeys(table["partner"]))


def _resolve_years(partner: str, given: dict) -> tuple[dict, str]:
    """Relative years (``"entry+2"``) as calendar years of the partner's entry date; the reason
    when one cannot be placed (no entry date)."""
    out = dict(given)
    relative = {k: v for k, v in given.items() if k in ("base_year", "compare_year") and isinstance(v, str)
                and _RELATIVE.match(v.strip())}
    if not relative:
        return out, ""
    from .study import Study

    derived = Study.build(partner, entry=given.get("entry", "") or "")
    if derived.entry is None:
        return out, (f"{', '.join(f'{k}={v}' for k, v in relative.items())} needs an entry date: {derived.partner} "
                     "has no US agreement in the study period (give entry=YYYY-MM-DD)")
    for key, value in relative.items():
        sign, years = _RELATIVE.match(value.strip()).groups()
        out[key] = derived.entry.year + (int(years) if sign == "+" else -int(years))
    return out, ""


def plan_studies(partners, grid="none") -> list[StudySpec]:
    """One :class:`StudySpec` per partner and grid point, in that order; grid points giving a
    study already listed (the same id) are dropped. A partner's own mapping wins over the grid
    on the keys it sets. A point that cannot be built is kept with status ``invalid`` (or
    ``not applicable``) and its reason."""
    from .study import Study

    grid = resolve_grid(grid)
    keys = list(grid)
    points = list(itertools.product(*(grid[k] for k in keys)))
    specs: list[StudySpec] = []
    seen: set[str] = set()

    def add(spec: StudySpec) -> None:  # one row per distinct point that cannot run
        key = json.dumps([spec.partner, spec.parameters, spec.status, spec.reason], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            specs.append(spec)

    for item in expand_partners(partners):
        own = dict(item) if isinstance(item, Mapping) else {"partner": item}
        partner = str(own.pop("partner")).strip().upper()
        for point in points:
            given = {**dict(zip(keys, point, strict=True)), **own}
            given = {k: v for k, v in given.items() if v not in (None, "", 0, "0")
                     and not (k == "controls" and str(v).strip().lower() == "default")}
            params = {"partner": partner}
            try:
                resolved, why = _resolve_years(partner, given)
                params.update({k: resolved[k] for k in STUDY_KEYS if k in resolved})
                if why:
                    add(StudySpec(partner, params, status="not applicable", reason=why))
                    continue
                study = Study.build(partner, entry=params.get("entry", ""), base_year=params.get("base_year", 0),
                                    compare_year=params.get("compare_year", 0),
                                    controls=params.get("controls", "default"))
            except KorusError as err:
                add(StudySpec(partner, params, status="invalid", reason=_one_line(str(err))))
                continue
            if study.study_id in seen:
                continue
            seen.add(study.study_id)
            params["partner"] = study.partner
            specs.append(StudySpec(study.partner, params, study=study))
    return specs


def select_notebooks(notebooks=None) -> tuple[str, ...]:
    """Notebook numbers (``["01", "06"]``, ``"01,06"``, stems) in the order a study runs them."""
    if notebooks is None:
        return ORDER
    if isinstance(notebooks, str):
        notebooks = [n for n in re.split(r"[\s,]+", notebooks) if n]
    chosen = set()
    for nb in notebooks:
        number = str(nb).strip()[:2].zfill(2) if str(nb).strip() else ""
        if number not in STEMS:
            raise ParameterError("notebooks", nb, list(STEMS))
        chosen.add(number)
    if not chosen:
        raise ParameterError("notebooks", notebooks, list(STEMS), "empty")
    return tuple(nb for nb in ORDER if nb in chosen)


# --------------------------------------------------------------------------- fingerprints
def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def _package_files() -> list[Path]:
    root = _package_dir()
    files = [p for p in root.rglob("*") if p.suffix in (".py", ".csv") and "__pycache__" not in p.parts
             and p.relative_to(root).as_posix() not in NOT_RUN_BY_NOTEBOOKS]
    return sorted(files)


@lru_cache(maxsize=8)
def _package_hash(stamp: tuple) -> str:
    root = _package_dir()
    digest = hashlib.sha256()
    for path in _package_files():
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _notebook_cells(stem: str) -> bytes:
    """The notebook's cells without outputs (a refreshed output changes nothing that runs)."""
    nb = json.loads((config.notebooks_dir() / f"{stem}.ipynb").read_text(encoding="utf-8"))
    cells = [[c.get("cell_type"), "".join(c.get("source", [])), sorted(c.get("metadata", {}).get("tags", []))]
             for c in nb.get("cells", [])]
    return json.dumps(cells, sort_keys=True).encode()


def code_fingerprint(notebook: str) -> str:
    """sha256 of what running ``notebook`` executes: the package sources the notebooks run
    (every ``.py``/``.csv`` of the package but :data:`NOT_RUN_BY_NOTEBOOKS`) and the notebook's
    cells (without outputs)."""
    files = _package_files()
    stamp = tuple((p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    digest = hashlib.sha256(_package_hash(stamp).encode())
    digest.update(_notebook_cells(STEMS[notebook]))
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=config.PROJECT_ROOT, capture_output=True, text=True, timeout=20,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("korus-research")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class _Context:
    """What the up-to-date checks compare against, computed once per run on the client."""

    processed: Path
    reports: Path
    fingerprints: dict = field(default_factory=dict)
    checksums: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    git_state: tuple | None = None

    @classmethod
    def current(cls) -> _Context:
        return cls(processed=config.data_processed().resolve(), reports=config.reports_dir().resolve())

    def results(self, study_id: str) -> Path:
        return self.processed / "results" / study_id

    def study_reports(self, study_id: str) -> Path:
        return self.reports / "studies" / study_id

    def fingerprint(self, nb: str) -> str:
        if nb not in self.fingerprints:
            self.fingerprints[nb] = code_fingerprint(nb)
        return self.fingerprints[nb]

    def checksum(self, table: str) -> str | None:
        if table not in self.checksums:
            path = self.processed / f"{table}.parquet"
            self.checksums[table] = _sha256(path) if path.exists() else None
        return self.checksums[table]

    def git(self) -> tuple[str | None, bool]:
        """(HEAD commit, whether src/ and notebooks/ have no uncommitted change)."""
        if self.git_state is None:
            head = _git("rev-parse", "HEAD")
            status = _git("status", "--porcelain", "--", "src", "notebooks")
            self.git_state = (head.strip() if head else None, status is not None and not status.strip())
        return self.git_state

    def notebook_defaults(self, nb: str) -> dict | None:
        """The notebook's own parameters (beyond the study's) and their defaults."""
        if nb not in self.defaults:
            try:
                import papermill as pm

                declared = pm.inspect_notebook(str(config.notebooks_dir() / f"{STEMS[nb]}.ipynb"))
                self.defaults[nb] = {name: ast.literal_eval(info["default"]) for name, info in declared.items()
                                     if name not in ("partner", *STUDY_KEYS)}
            except (ValueError, SyntaxError, KeyError, OSError):
                self.defaults[nb] = None
        return self.defaults[nb]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def notebook_state(spec: StudySpec, nb: str, ctx: _Context | None = None) -> tuple[bool, str]:
    """Whether notebook ``nb`` of ``spec`` is up to date in the store, and if not, why (the
    rules are in the module's docstring; 06's dependence on the others is checked by the run)."""
    ctx = ctx or _Context.current()
    folder = ctx.results(spec.study_id)
    manifest = _read_json(folder / "manifest.json")
    if manifest is None:
        return False, "no results yet"
    if manifest.get("study_id") != spec.study_id or manifest.get("parameters") != spec.study.parameters():
        return False, "the stored manifest is of other parameters"
    record = _read_json(folder / "runs" / f"{nb}.json")
    if record is None or record.get("study_id") != spec.study_id:
        return False, "not run yet"
    if not record.get("finished"):
        return False, "the last run did not finish"
    if not (ctx.study_reports(spec.study_id) / f"{STEMS[nb]}.ipynb").exists():
        return False, "no executed notebook in the study's report folder"
    changed = [t for t, sha in record.get("tables_read", {}).items() if ctx.checksum(t) != sha]
    if changed:
        return False, f"processed tables changed: {', '.join(changed)}"
    stamp = _read_json(folder / "runner" / f"{nb}.json")
    if (stamp is not None and stamp.get("record_started") == record.get("started")
            and stamp.get("record_finished") == record.get("finished")):
        if stamp.get("parameters") != spec.parameters:
            return False, "run with other notebook parameters"
        if stamp.get("package_version") != _package_version() or stamp.get("source_sha256") != ctx.fingerprint(nb):
            return False, "the code changed"
        return True, "up to date"
    # a run made without the runner: the same commit, nothing uncommitted, the default parameters
    head, clean = ctx.git()
    if head is None or record.get("git_commit") != head or not clean:
        return False, "the code changed (or is not committed)" if head else "the code cannot be identified"
    log = _read_json(ctx.study_reports(spec.study_id) / "run_log.json") or {}
    if log.get(STEMS[nb], {}).get("parameters") != spec.parameters:
        return False, "run with other notebook parameters"
    defaults = ctx.notebook_defaults(nb)
    if defaults is None or any(defaults.get(k) != v for k, v in record.get("notebook_parameters", {}).items()):
        return False, "run with other notebook parameters"
    return True, "up to date"


# --------------------------------------------------------------------------- the tasks
def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _where() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _tree_rss(proc) -> int:
    import psutil

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _watched(args: list[str], env: dict, timeout: float) -> tuple[int, str, float]:
    """Run ``args``; return code, stderr and the peak memory (MB) of its process tree (the
    notebook's kernel included), sampled every half second."""
    import psutil

    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(config.PROJECT_ROOT))
    watch = psutil.Process(proc.pid)
    peak, start = 0, time.monotonic()
    stderr = ""
    while True:
        try:
            _, stderr = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            peak = max(peak, _tree_rss(watch))
            if time.monotonic() - start > timeout:
                for child in watch.children(recursive=True):
                    child.kill()
                proc.kill()
                proc.communicate()
                return -9, f"error: stopped after {timeout:.0f} s (timeout)", peak / 2**20
    return proc.returncode, stderr or "", peak / 2**20


def _error_line(stderr: str, what: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    if lines:
        text = lines[-1].removeprefix("error:").strip()
        return _one_line(text.split(" (executed copy:")[0])
    tail = [line for line in stderr.strip().splitlines() if line.strip()]
    return _one_line(f"{what} failed: {tail[-1] if tail else 'no message'}")


def _env(job: dict, reports: str) -> dict:
    """The child's environment: the paths given explicitly (``reports``: the notebook's figures
    go under ``<reports>/figures``, as ``make study`` puts them)."""
    # DASK_SCHEDULER names the runner's cluster; Dask itself would read it as its config key
    # ``scheduler`` and a dask.compute in a notebook would fail on an address: not passed on
    inherited = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER"}
    return {**inherited, "KORUS_DATA_PROCESSED": job["processed"], "KORUS_REPORTS": reports,
            "KORUS_STUDY_SCOPE": "study", "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


_CHILD = "import sys; from korus_research.runner import _child; sys.exit(_child(sys.argv[1:]))"


def _child(argv: list[str]) -> int:
    """Entry of a task's child process: ``notebook STEM OUT PARAMS_JSON`` or ``report OUT
    PARAMS_JSON``. The child dies with the worker thread that started it (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    kind, *rest = argv
    if kind == "notebook":
        from .cli import main

        stem, out, params = rest
        args = ["run", stem, "-o", out, "--quiet"]
        for key, value in json.loads(params).items():
            args += ["-p", key, str(value)]
        return main(args)
    out, params = rest
    try:
        from .report import build_report
        from .study import Study

        p = json.loads(params)
        study = Study.build(p["partner"], entry=p.get("entry", ""), base_year=p.get("base_year", 0),
                            compare_year=p.get("compare_year", 0), controls=p.get("controls", "default"))
        print(f"wrote {build_report(Path(out), study=study)}")
        return 0
    except Exception as exc:  # one line, as the CLI does
        print(f"error: report of {out} failed: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return 2


def _blocked(job: dict, inputs: tuple) -> dict | None:
    bad = [r for r in inputs if r.get("status") not in ("done", "up to date")]
    if not bad:
        return None
    first = bad[0]
    what = f"notebook {first['notebook']}" if first.get("notebook") != "report" else "the report"
    return {**_result(job), "status": "not run", "reason": f"needs {what}, which {first['status']}"}


def _result(job: dict) -> dict:
    return {"key": job["key"], "study_id": job["study_id"], "notebook": job["notebook"], "status": "",
            "reason": "", "seconds": 0.0, "peak_mb": 0.0, "worker": _where(), "skipped": []}


def run_notebook_job(job: dict, *inputs: dict) -> dict:
    """Task: run one notebook of one study (in a child process); never raises.

    ``job``: ``key, study_id, notebook, stem, parameters, processed, results, reports,
    reports_root, timeout``; ``inputs``: the results of the tasks it waits for (06: the
    notebooks it reads that ran in this run). Returns ``key, study_id, notebook, status
    ("done", "failed", "not run"), reason, seconds, peak_mb, worker, skipped``.
    """
    blocked = _blocked(job, inputs)
    if blocked:
        return blocked
    out = _result(job)
    start = time.perf_counter()
    params = {**job["parameters"], **job.get("extra", {})}
    args = [sys.executable, "-c", _CHILD, "notebook", job["stem"], job["reports"], json.dumps(params)]
    for attempt in (1, 2):
        try:
            code, stderr, peak = _watched(args, _env(job, job["reports"]), job["timeout"])
        except Exception as exc:  # the child could not start
            code, stderr, peak = -1, f"error: {type(exc).__name__}: {exc}", 0.0
        out["peak_mb"] = max(out["peak_mb"], round(peak, 1))
        # an error in a cell fails the same way again, a timeout takes as long again; a kernel
        # that died or did not start (e.g. two kernels racing for a port) is tried once more
        if code == 0 or code == -9 or " failed in cell " in stderr or "error: parameter " in stderr or attempt == 2:
            break
        out["retried"] = _error_line(stderr, f"notebook {job['stem']}")
    out["seconds"] = round(time.perf_counter() - start, 1)
    if code != 0:
        out.update(status="failed", reason=_error_line(stderr, f"notebook {job['stem']}"))
        return out
    folder = Path(job["results"])
    record = _read_json(folder / "runs" / f"{job['notebook']}.json") or {}
    if record.get("study_id") != job["study_id"] or not record.get("finished"):
        out.update(status="failed", reason=f"notebook {job['stem']} ran but its run record did not finish")
        return out
    stamp = {"study_id": job["study_id"], "notebook": job["notebook"], "parameters": job["parameters"],
             "source_sha256": code_fingerprint(job["notebook"]), "package_version": _package_version(),
             "git_commit": record.get("git_commit"), "record_started": record.get("started"),
             "record_finished": record.get("finished"), "seconds": out["seconds"], "peak_mb": out["peak_mb"],
             "worker": out["worker"], "ran": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write_json(folder / "runner" / f"{job['notebook']}.json", stamp)
    out.update(status="done", skipped=[s.get("section", "") for s in record.get("skipped", [])])
    return out


def run_report_job(job: dict, *inputs: dict) -> dict:
    """Task: build the study's report (``reports/studies/<id>/index.html``); never raises."""
    blocked = _blocked(job, inputs)
    if blocked:
        return blocked
    out = _result(job)
    start = time.perf_counter()
    args = [sys.executable, "-c", _CHILD, "report", job["reports"], json.dumps(job["parameters"])]
    try:
        # the report is built as `make study` builds it: KORUS_REPORTS is the site's top folder
        code, stderr, peak = _watched(args, _env(job, job["reports_root"]), job["timeout"])
    except Exception as exc:
        code, stderr, peak = -1, f"error: {type(exc).__name__}: {exc}", 0.0
    out.update(seconds=round(time.perf_counter() - start, 1), peak_mb=round(peak, 1),
               status="done" if code == 0 else "failed",
               reason="" if code == 0 else _error_line(stderr, "the report"))
    return out


# --------------------------------------------------------------------------- the graph
@dataclass
class _Task:
    key: str
    func: object
    job: dict
    deps: list[str]
    priority: int


def _record_times(folder: Path, nb: str) -> tuple[str, str]:
    record = _read_json(folder / "runs" / f"{nb}.json") or {}
    return record.get("started", ""), record.get("finished", "")


def _plan_tasks(specs: list[StudySpec], notebooks: tuple[str, ...], ctx: _Context, token: str,
                timeout: float, report: bool) -> tuple[list[_Task], dict[str, dict[str, str]]]:
    """The tasks of the stale notebooks (in dependency order) and each study's up-to-date notes."""
    tasks: list[_Task] = []
    why: dict[str, dict[str, str]] = {}
    runnable = [s for s in specs if s.study is not None]
    for i, spec in enumerate(runnable):
        sid = spec.study_id
        folder, out = ctx.results(sid), ctx.study_reports(sid)
        state = {nb: notebook_state(spec, nb, ctx) for nb in notebooks}
        stale = {nb for nb, (ok, _) in state.items() if not ok}
        for nb, needs in INPUTS.items():
            if nb in state and nb not in stale:
                ran_after = all(_record_times(folder, nb)[0] >= _record_times(folder, d)[1] for d in needs)
                if not ran_after or stale & set(needs):
                    stale.add(nb)
                    state[nb] = (False, "its inputs ran again")
        why[sid] = {nb: reason for nb, (_, reason) in state.items()}
        base = (len(runnable) - i) * 10
        keys: dict[str, str] = {}
        for nb in notebooks:
            if nb not in stale:
                continue
            key = f"{sid}-{nb}-{token}"
            keys[nb] = key
            job = {"key": key, "study_id": sid, "notebook": nb, "stem": STEMS[nb], "parameters": spec.parameters,
                   "processed": str(ctx.processed), "results": str(folder), "reports": str(out),
                   "reports_root": str(ctx.reports), "timeout": timeout}
            deps = [keys[d] for d in INPUTS.get(nb, ()) if d in keys]
            tasks.append(_Task(key, run_notebook_job, job, deps, base + WEIGHT[nb]))
        if report and "06" in notebooks:
            index = out / "index.html"
            newest = max((p.stat().st_mtime for p in (folder / "runs").glob("*.json")), default=0.0) \
                if (folder / "runs").exists() else 0.0
            if keys or not index.exists() or index.stat().st_mtime < newest:
                key = f"{sid}-report-{token}"
                job = {"key": key, "study_id": sid, "notebook": "report", "stem": "report",
                       "parameters": spec.parameters, "processed": str(ctx.processed), "results": str(folder),
                       "reports": str(out), "reports_root": str(ctx.reports), "timeout": timeout}
                tasks.append(_Task(key, run_report_job, job, [keys["06"]] if "06" in keys else [], base))
    return tasks, why


# --------------------------------------------------------------------------- running
def _machine() -> tuple[int, int]:
    """Cores this process may use and the machine's memory (bytes)."""
    import psutil

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores), int(psutil.virtual_memory().total)


def local_cluster(workers: int | None = None):
    """A ``distributed.LocalCluster`` sized to the machine: ``workers`` processes (default: one
    per core), one thread each, the machine's memory divided between them, no dashboard.

    The memory limit is the worker process's own (distributed's nanny watches it); the
    notebooks run in child processes, which it does not count."""
    import logging

    from distributed import LocalCluster

    cores, memory = _machine()
    n = int(workers or cores)
    if n < 1:
        raise ParameterError("workers", workers, "a whole number of at least 1")
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=memory // n,
                        dashboard_address=None, silence_logs=logging.ERROR)


def _worker_check(processed: str) -> dict:
    """Run on every worker: what it has (the package, its version, the data folder)."""
    import platform

    from . import __version__

    return {"python": platform.python_version(), "korus_research": __version__,
            "processed": Path(processed).is_dir() and (Path(processed) / "census_annual.parquet").exists(),
            "executable": sys.executable}


def _connect(scheduler, workers):
    """(client, cluster we started or None, whether we own the client)."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, None, False
    address = (scheduler or os.environ.get("DASK_SCHEDULER", "").strip()
               or os.environ.get("DASK_SCHEDULER_ADDRESS", "").strip() or None)
    if address:
        try:
            return Client(address, timeout="30s"), None, True
        except OSError as err:
            raise KorusError(f"no Dask scheduler at {address}: {_one_line(str(err))} (start one with "
                             "`dask scheduler`, or leave DASK_SCHEDULER unset for a local cluster)") from None
    cluster = local_cluster(workers)
    return Client(cluster), cluster, True


def _check_workers(client, processed: str) -> dict:
    try:
        info = client.run(_worker_check, processed)
    except Exception as err:  # a worker without the package cannot even unpickle the check
        raise KorusError(f"a Dask worker cannot run the study tasks ({type(err).__name__}: {_one_line(str(err))}): "
                         "install korus-research (pip install -e .) in every worker's environment") from None
    if not info:
        raise KorusError("the Dask cluster has no worker")
    blind = [address for address, i in info.items() if not i["processed"]]
    if blind:
        raise KorusError(f"worker(s) {', '.join(blind)} cannot read the processed tables at {processed}: every worker "
                         "needs the shared data folder at the same path (KORUS_DATA_PROCESSED)")
    return info


def _execute_serial(tasks: list[_Task], bar, results: dict[str, dict]) -> None:
    """Every task in turn, its result into ``results`` as it finishes."""
    for task in tasks:
        results[task.key] = task.func(task.job, *[results[d] for d in task.deps])
        bar(results[task.key], running=set())


def _execute_dask(client, tasks: list[_Task], bar, results: dict[str, dict]) -> None:
    """The tasks on the cluster, each result into ``results`` as it finishes."""
    from distributed import as_completed

    futures = {}
    for task in tasks:
        futures[task.key] = client.submit(task.func, task.job, *[futures[d] for d in task.deps], key=task.key,
                                          priority=task.priority, pure=False, retries=0)
    by_future = {f.key: key for key, f in futures.items()}
    deps = {t.key: t.deps for t in tasks}
    jobs = {t.key: t.job for t in tasks}
    try:
        for future in as_completed(list(futures.values())):
            key = by_future[future.key]
            try:
                results[key] = future.result()
            except Exception as exc:  # a worker died (KilledWorker), a cancelled task, an unpicklable result
                failed_dep = next((d for d in deps[key] if results.get(d, {}).get("status") != "done"), None)
                out = {**_result(jobs[key]), "worker": "?"}
                if failed_dep is not None and failed_dep in results:
                    dep = results[failed_dep]
                    out.update(status="not run", reason=f"needs notebook {dep['notebook']}, which {dep['status']}")
                else:
                    out.update(status="failed", reason=_one_line(f"{type(exc).__name__}: {exc}"))
                results[key] = out
            try:  # the tasks executing now (``processing`` also lists those queued on a worker)
                processing = {k for keys in client.run(_executing).values() for k in keys}
            except Exception:
                processing = set()
            bar(results[key], running=processing)
    except BaseException:
        client.cancel(list(futures.values()))
        raise


def _executing(dask_worker) -> list[str]:
    """Run on every worker: the keys of the tasks it is executing."""
    return [str(ts.key) for ts in dask_worker.state.executing]


class _Progress:
    """Studies done / to run, and how many are running (a tqdm bar on stderr)."""

    def __init__(self, tasks: list[_Task], enabled: bool):
        self.left: dict[str, int] = {}
        for t in tasks:
            self.left[t.job["study_id"]] = self.left.get(t.job["study_id"], 0) + 1
        self.tasks = len(tasks)
        self.done_tasks = 0
        self.bar = None
        if enabled and tasks:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(self.left), unit="study", desc="studies", dynamic_ncols=True)

    def __call__(self, result: dict, running: set) -> None:
        self.done_tasks += 1
        sid = result["study_id"]
        self.left[sid] -= 1
        if self.bar is None:
            return
        if self.left[sid] == 0:
            self.bar.update(1)
        studies = {k.rsplit("-", 2)[0] for k in map(str, running)}
        self.bar.set_postfix_str(f"running {len(studies)}, notebooks {self.done_tasks}/{self.tasks}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _summary(specs: list[StudySpec], notebooks: tuple[str, ...], results: dict[str, dict],
             ctx: _Context) -> pd.DataFrame:
    rows = []
    by_study: dict[str, list[dict]] = {}
    for r in results.values():
        by_study.setdefault(r["study_id"], []).append(r)
    for spec in specs:
        if spec.study is None:
            rows.append({"study": "", "partner": spec.partner, "parameters": spec.label(), "status": spec.status,
                         "notebooks run": "", "skipped sections": 0, "reason": spec.reason, "seconds": 0.0})
            continue
        ran = sorted(by_study.get(spec.study_id, []), key=lambda r: ORDER.index(r["notebook"])
                     if r["notebook"] in ORDER else len(ORDER))
        folder = ctx.results(spec.study_id)
        skipped = []
        for nb in notebooks:
            record = _read_json(folder / "runs" / f"{nb}.json") or {}
            skipped += [f"{nb}: {s.get('section', '')}" for s in record.get("skipped", [])]
        failed = [r for r in ran if r["status"] == "failed"]
        if failed:
            status, reason = "failed", failed[0]["reason"]
            others = [r["notebook"] for r in ran if r["status"] == "not run"]
            if len(failed) > 1:
                reason += f" (and {len(failed) - 1} more failed: {', '.join(r['notebook'] for r in failed[1:])})"
            if others:
                reason += f"; not run: {', '.join(others)}"
        elif ran:
            status, reason = "done", ""
        else:
            status, reason = "up to date", ""
        if status != "failed" and skipped:
            reason = "skipped: " + "; ".join(skipped)
        rows.append({"study": spec.study_id, "partner": spec.partner, "parameters": spec.label(), "status": status,
                     "notebooks run": ",".join(r["notebook"] for r in ran if r["status"] in ("done", "failed")),
                     "skipped sections": len(skipped), "reason": _one_line(reason, 400),
                     "seconds": round(sum(r["seconds"] for r in ran), 1)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def run_studies(partners, grid="none", scheduler=None, workers: int | None = None, notebooks=None,
                progress: bool = True, timeout: float = TIMEOUT, report: bool = True) -> pd.DataFrame:
    """Run every study of ``partners`` x ``grid`` on a Dask cluster and return the summary.

    Parameters
    ----------
    partners : list
        ISO3 codes, ``"agreements"`` (every US agreement partner), or mappings
        ``{"partner": "CHN", "entry": "2015-01-01"}`` (crossed with the grid on the keys they do
        not set).
    grid : str or mapping
        A name of :data:`GRIDS`, a mapping of Study parameters to lists of values, or JSON text.
    scheduler : str or distributed.Client, optional
        ``"tcp://host:8786"`` (an existing cluster; default ``DASK_SCHEDULER``, else Dask's own
        ``DASK_SCHEDULER_ADDRESS``), a ``Client``, or
        ``"serial"`` (every task in turn in this process). Default: a :func:`local_cluster`.
    workers : int, optional
        Workers of the local cluster (default: one per core).
    notebooks : list or str, optional
        The notebooks to run (default all: 01-05 and 07, then 06, then the study's report).
    progress : bool
        A progress bar of the studies done and running.
    timeout : float
        Seconds after which a notebook is stopped (its study fails).
    report : bool
        Build each study's report (``reports/studies/<id>/index.html``) after its notebook 06.

    Returns
    -------
    DataFrame
        One row per study (:data:`SUMMARY_COLUMNS`): study id, partner, parameters, status
        (``done``, ``up to date``, ``failed``, ``invalid``, ``not applicable``), the notebooks
        run, the number of sections skipped for lack of data, the reason (the failure in one line,
        or the sections skipped) and the seconds its tasks took. ``attrs``: ``wall_seconds``,
        ``workers`` (address -> what the worker has), ``tasks`` (every task's result).
    """
    start = time.perf_counter()
    specs = plan_studies(partners, grid)
    chosen = select_notebooks(notebooks)
    ctx = _Context.current()
    token = hashlib.sha256(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:8]
    tasks, _ = _plan_tasks(specs, chosen, ctx, token, timeout, report)
    # submitted highest priority first (the scheduler starts the first tasks it gets on idle workers);
    # a task's priority is below its dependencies', so this order is also a topological one
    tasks.sort(key=lambda t: -t.priority)
    bar = _Progress(tasks, progress)
    workers_info: dict = {}
    results: dict[str, dict] = {}  # filled as tasks finish: an interrupted run still reports them
    try:
        if not tasks:
            pass
        elif isinstance(scheduler, str) and scheduler.strip().lower() in ("serial", "synchronous"):
            workers_info = {"local": {"executable": sys.executable}}
            _execute_serial(tasks, bar, results)
        else:
            client, cluster, owned = _connect(scheduler, workers)
            try:
                workers_info = _check_workers(client, str(ctx.processed))
                for task in tasks:
                    task.job["extra"] = ON_CLUSTER.get(task.job["notebook"], {})
                _execute_dask(client, tasks, bar, results)
            finally:
                if owned:
                    client.close()
                if cluster is not None:
                    cluster.close()
    except KeyboardInterrupt:
        bar.close()
        summary = _summary(specs, chosen, results, ctx)
        planned = Counter(t.job["study_id"] for t in tasks)
        ran = Counter(r["study_id"] for r in results.values())
        for i, row in summary.iterrows():
            sid = row["study"]
            if row["status"] in ("done", "up to date") and ran[sid] < planned[sid]:
                summary.loc[i, ["status", "reason"]] = ["unfinished", f"{ran[sid]} of its {planned[sid]} tasks "
                                                        "finished before the interruption"]
        path = _write_run_log(ctx, summary, results, workers_info, start, interrupted=True)
        print(f"{format_summary(summary)}\n(interrupted; this run's record: {path})", file=sys.stderr)
        raise
    finally:
        bar.close()
    summary = _summary(specs, chosen, results, ctx)
    summary.attrs.update(wall_seconds=round(time.perf_counter() - start, 1), workers=workers_info,
                         tasks=list(results.values()))
    summary.attrs["log"] = str(_write_run_log(ctx, summary, results, workers_info, start, interrupted=False))
    return summary


#: The record of the last run of :func:`run_studies` (under the reports folder).
RUN_LOG = "studies_run.json"


def _write_run_log(ctx: _Context, summary: pd.DataFrame, results: dict, workers_info: dict, start: float,
                   interrupted: bool) -> Path:
    """``reports/studies_run.json``: the run's summary rows and every task's result (worker,
    seconds, peak memory), its wall time and workers, and whether it was interrupted."""
    path = ctx.reports / RUN_LOG
    record = {"finished": time.strftime("%Y-%m-%d %H:%M:%S"), "interrupted": interrupted,
              "wall_seconds": round(time.perf_counter() - start, 1),
              "workers": {str(k): {"python": v.get("python"), "executable": v.get("executable")}
                          for k, v in workers_info.items()},
              "studies": json.loads(summary.to_json(orient="records")),
              "tasks": sorted(results.values(), key=lambda r: (r["study_id"], r["notebook"]))}
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, record)
    return path


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as a text table with a count line (for the command line)."""
    counts = summary["status"].value_counts()
    line = ", ".join(f"{n} {s}" for s, n in counts.items())
    table = summary.to_markdown(index=False) if len(summary) else "(no study)"
    wall = summary.attrs.get("wall_seconds")
    return f"{table}\n\n{len(summary)} studies: {line}" + (f" ({wall:.0f} s)" if wall is not None else "")

