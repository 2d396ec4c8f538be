"""The results store: every saved result belongs to one study, under a contract.

Layout (``data/processed/results/``)::

    default/                  the study that ``make`` builds (only when KORUS_STUDY_SCOPE=default)
    <study id>/               every other run: JupyterLab, ``make study``, ``make studies``
        manifest.json         the study's parameters and id, package version, creation time
        runs/<notebook>.json  per notebook: study id, results saved, sections skipped and why,
                              sha256 of every processed table read, git commit, time
        <result>.parquet      tables the notebooks save (for figures and the report)
        estimates_<nb>.parquet  the notebook's rows of the long estimate table

The **estimate table** (:data:`ESTIMATE_SCHEMA`) is the contract between the notebooks and
the synthesis: one row per number (quantity, estimator, notebook, period, unit, value,
interval kind and bounds, whether the estimator passed its own diagnostics and which).
Dollar amounts are converted once, when saved, to US$ billion (:func:`to_bn`). The synthesis
reads only this table and refuses rows of another study, naming both ids.

An interactive run (JupyterLab) or a ``make study`` run writes to ``<study id>/``, never to
``default/``: exploring cannot change the headline study.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
from pandera.pandas import Check, Column, DataFrameSchema

from . import config
from .errors import DataError, EstimationError, ParameterError, ResultsError
from .study import Study

SCOPE_VARIABLE = "KORUS_STUDY_SCOPE"
DEFAULT_FOLDER = "default"
NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07", "08")

UNITS = ["US$ bn", "share", "elasticity", "log points", "percent", "p-value", "statistic", "count"]
INTERVALS = ["95% CI", "range across estimators", "none"]
DIAGNOSTICS = ["passed", "failed", "not tested"]
_TO_BN = {"US$": 1e-9, "US$ thousand": 1e-6, "US$ million": 1e-3, "US$ bn": 1.0, "US$ billion": 1.0}


def to_bn(value, unit: str):
    """Convert a dollar amount (scalar, array or Series) in ``unit`` to US$ billion."""
    if unit not in _TO_BN:
        raise ParameterError("unit", unit, sorted(_TO_BN))
    return value * _TO_BN[unit]


def _bounds_ordered(df: pd.DataFrame) -> pd.Series:
    has = df["low"].notna() & df["high"].notna()
    return ~has | (df["low"] <= df["high"] + 1e-12)


def _interval_consistent(df: pd.DataFrame) -> pd.Series:
    none = df["interval"] == "none"
    return (none & df["low"].isna() & df["high"].isna()) | (~none & df["low"].notna() & df["high"].notna())


ESTIMATE_SCHEMA = DataFrameSchema(
    {
        "study_id": Column(str, Check.str_matches(r"^[A-Z]{3}-[0-9a-f]{8}$")),
        "notebook": Column(str, Check.isin(list(NOTEBOOKS))),
        "quantity": Column(str, Check.str_length(min_value=1)),
        "estimator": Column(str, Check.str_length(min_value=1)),
        "period": Column(str),
        "unit": Column(str, Check.isin(UNITS)),
        "value": Column(float, nullable=True),
        "interval": Column(str, Check.isin(INTERVALS)),
        "low": Column(float, nullable=True),
        "high": Column(float, nullable=True),
        "diagnostics": Column(str, Check.isin(DIAGNOSTICS)),
        "diagnostics_detail": Column(str),
    },
    checks=[Check(_bounds_ordered, error="low > high"),
            Check(_interval_consistent, error="interval 'none' with bounds, or an interval without bounds")],
    unique=["study_id", "notebook", "quantity", "estimator", "period"],
    strict=True,
    coerce=True,
)
ESTIMATE_COLUMNS = list(ESTIMATE_SCHEMA.columns)


def validate_estimates(frame: pd.DataFrame, file: str = "estimate table") -> pd.DataFrame:
    """Validate the long estimate table; a failure names the file, the column and the rows."""
    try:
        return ESTIMATE_SCHEMA.validate(frame.reset_index(drop=True), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        first = cases.iloc[0]
        check = str(first["check"])
        if first["schema_context"] == "Column" and pd.notna(first["column"]):
            field = str(first["column"])
        elif "low > high" in check:
            field = "low+high"
        elif "interval" in check:
            field = "interval+low+high"
        elif check == "multiple_fields_uniqueness":
            field = "+".join(ESTIMATE_SCHEMA.unique or [])
        else:
            field = str(first["column"]) if pd.notna(first["column"]) else check
        rows = sorted({int(i) for i in cases["index"].dropna()})
        checks = "; ".join(sorted({str(c) for c in cases["check"]}))[:300]
        raise DataError(file, field, f"estimate table contract failed: {checks}", rows) from None


def estimate_rows(rows: list[dict], notebook: str, study_id: str) -> pd.DataFrame:
    """Build validated estimate rows from dicts with at least ``quantity, estimator, unit, value``.

    Defaults: ``period=""``, ``interval`` "95% CI" when ``low``/``high`` are given else "none",
    ``diagnostics`` "not tested", ``diagnostics_detail`` "".
    """
    out = []
    for r in rows:
        low, high = r.get("low", np.nan), r.get("high", np.nan)
        low = np.nan if low is None else float(low)
        high = np.nan if high is None else float(high)
        has = not (np.isnan(low) or np.isnan(high))
        interval = r.get("interval") or ("95% CI" if has else "none")
        value = r.get("value")
        out.append({
            "study_id": study_id, "notebook": notebook, "quantity": r["quantity"], "estimator": r["estimator"],
            "period": str(r.get("period", "")), "unit": r["unit"],
            "value": np.nan if value is None else float(value), "interval": interval, "low": low, "high": high,
            "diagnostics": r.get("diagnostics", "not tested"), "diagnostics_detail": r.get("diagnostics_detail", ""),
        })
    frame = pd.DataFrame(out, columns=ESTIMATE_COLUMNS)
    return validate_estimates(frame, f"estimates of notebook {notebook}")


# --------------------------------------------------------------------------- helpers
def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT, capture_output=True,
                             text=True, timeout=10, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _package_version() -> str:
    try:
        return metadata.version("korus-research")
    except metadata.PackageNotFoundError:
        return "unknown"


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    config.publish(tmp, path)


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp)
        config.publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _locked(folder: Path):
    return config.file_lock(folder / ".lock")


def scope() -> str:
    """``default`` when the Makefile builds the headline study, else ``study``."""
    value = os.environ.get(SCOPE_VARIABLE, "").strip() or "study"
    if value not in ("default", "study"):
        raise ParameterError(SCOPE_VARIABLE, value, ["default", "study"])
    return value


def study_folder(study: Study, scope_: str | None = None) -> Path:
    """Where ``study`` stores its results in this scope."""
    scope_ = scope_ or scope()
    if scope_ not in ("default", "study"):
        raise ParameterError("scope", scope_, ["default", "study"])
    if scope_ == "default":
        default = Study.default()
        if study.study_id != default.study_id:
            raise ResultsError(
                f"{SCOPE_VARIABLE}=default is for the headline study {default.study_id} only; "
                f"{study.study_id} ({study}) writes to its own folder: unset {SCOPE_VARIABLE}")
        return config.results_dir() / DEFAULT_FOLDER
    return config.results_dir() / study.study_id


class Store:
    """The results of one study, as written and read by one notebook.

    Parameters
    ----------
    study : Study
    notebook : str
        Two-digit notebook number (``"01"`` ... ``"06"``).
    folder : Path, optional
        Defaults to :func:`study_folder`.
    reset : bool
        Start this notebook's record afresh (a notebook run); ``False`` only reads.
    """

    def __init__(self, study: Study, notebook: str, folder: Path | None = None, reset: bool = True,
                 parameters: dict | None = None):
        if notebook not in NOTEBOOKS:
            raise ParameterError("notebook", notebook, NOTEBOOKS)
        self.study = study
        self.notebook = notebook
        self.folder = Path(folder) if folder is not None else study_folder(study)
        self._record: dict = {}
        self.writable = reset
        if reset:
            self._claim()
            self._record = {"study_id": study.study_id, "notebook": notebook, "results": [], "skipped": [],
                            "notebook_parameters": dict(parameters or {}),
                            "tables_read": {}, "package_version": _package_version(), "git_commit": _git_commit(),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
            self._write_record()

    @property
    def scope(self) -> str:
        return "default" if self.folder.name == DEFAULT_FOLDER else "study"

    def figure_group(self, notebook_name: str) -> str:
        """Where this run's figures go under ``reports/figures``: ``<notebook>/default`` for the
        default study built by ``make``, else ``<notebook>/<study id>`` (so an interactive run
        never replaces a figure of the default report)."""
        return f"{notebook_name}/{DEFAULT_FOLDER if self.scope == 'default' else self.study.study_id}"

    # ------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def _claim(self) -> None:
        """Write the manifest, or check that the folder holds this study. A default folder that
        holds an older default study is emptied first (its results are stale)."""
        with _locked(self.folder):
            if self.manifest_path.exists():
                manifest = json.loads(self.manifest_path.read_text())
                if manifest.get("study_id") == self.study.study_id:
                    self._drop_previous_run()
                    return
                if self.folder.name != DEFAULT_FOLDER:
                    raise ResultsError(f"{self.folder} holds study {manifest.get('study_id')}, not "
                                       f"{self.study.study_id}")
                for path in self.folder.iterdir():
                    if path.name == ".lock":
                        continue
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            _write_json(self.manifest_path, {"study_id": self.study.study_id, "parameters": self.study.parameters(),
                                             "notes": list(self.study.notes), "package_version": _package_version(),
                                             "created": time.strftime("%Y-%m-%d %H:%M:%S")})
            self._drop_previous_run()

    def _drop_previous_run(self) -> None:
        """A rerun of this notebook: drop what its previous run saved."""
        old = self._record_path(self.notebook)
        if old.exists():
            previous = json.loads(old.read_text())
            for name in previous.get("results", []):
                (self.folder / f"{name}.parquet").unlink(missing_ok=True)
            old.unlink()
        (self.folder / f"estimates_{self.notebook}.parquet").unlink(missing_ok=True)

    def _record_path(self, notebook: str) -> Path:
        return self.folder / "runs" / f"{notebook}.json"

    def _write_record(self) -> None:
        from . import io

        if not self.writable:
            raise ResultsError(f"this store of {self.study.study_id} was opened for reading (read_store): "
                               "open it with open_store to write")
        self._record["tables_read"] = io.tables_read()
        self._record["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        _write_json(self._record_path(self.notebook), self._record)

    def record(self, notebook: str) -> dict:
        """The run record of ``notebook``, checked to belong to this study."""
        path = self._record_path(notebook)
        if not path.exists():
            raise ResultsError(f"notebook {notebook} has not run for study {self.study.study_id} "
                               f"({self.folder}): run it first (make study or the notebook itself)")
        record = json.loads(path.read_text())
        if record.get("study_id") != self.study.study_id:
            raise ResultsError(
                f"the results of notebook {notebook} in {self.folder} belong to study {record.get('study_id')}, "
                f"not to {self.study.study_id} ({self.study}): rerun notebook {notebook} with this study's parameters")
        return record

    # ------------------------------------------------------------ writing
    def save(self, name: str, frame: pd.DataFrame) -> Path:
        """Save a result table of this notebook (``<folder>/<name>.parquet``)."""
        if not name.replace("_", "").isalnum():
            raise ParameterError("name", name, "letters, digits and underscores")
        if not self.writable:
            raise ResultsError(f"this store of {self.study.study_id} was opened for reading (read_store): "
                               "open it with open_store to write")
        path = self.folder / f"{name}.parquet"
        _write_parquet(path, frame)
        if name not in self._record["results"]:
            self._record["results"].append(name)
        self._write_record()
        return path

    def add_estimates(self, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
        """Append rows to this notebook's part of the estimate table (validated on write)."""
        if not self.writable:
            raise ResultsError(f"this store of {self.study.study_id} was opened for reading (read_store): "
                               "open it with open_store to write")
        if isinstance(rows, pd.DataFrame):
            rows = rows.to_dict("records")
        new = estimate_rows(rows, self.notebook, self.study.study_id)
        path = self.folder / f"estimates_{self.notebook}.parquet"
        if path.exists():
            old = pd.read_parquet(path)
            key = ["quantity", "estimator", "period"]
            keep = old.merge(new[key], on=key, how="left", indicator=True)["_merge"] == "left_only"
            new = pd.concat([old[keep.to_numpy()], new], ignore_index=True)
        new = validate_estimates(new, str(path))
        _write_parquet(path, new)
        self._write_record()
        return new

    def skip(self, section: str, reason: str) -> None:
        """Record (and print) that ``section`` cannot run for this study, and why."""
        entry = {"section": section, "reason": reason}
        if entry not in self._record["skipped"]:
            self._record["skipped"].append(entry)
        self._write_record()
        print(f"skipped: {section}: {reason}")

    def attempt(self, section: str, func, needs_agreement: bool = True):
        """Run ``func()`` for ``section``; when the data cannot support it (an
        :class:`~korus_research.errors.EstimationError`, or no agreement date when
        ``needs_agreement``) record the skip with its reason and return ``None``."""
        if needs_agreement and not self.study.has_agreement:
            self.skip(section, f"{self.study.partner} has no US agreement in the study period and no entry date was "
                               "given (pass entry=YYYY-MM-DD for a hypothetical one)")
            return None
        try:
            return func()
        except EstimationError as err:
            self.skip(section, str(err))
            return None

    def done(self) -> None:
        """Mark this notebook's run as finished."""
        self._record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self._write_record()

    # ------------------------------------------------------------ reading
    def _owner(self, name: str) -> str:
        for nb in NOTEBOOKS:
            path = self._record_path(nb)
            if path.exists() and name in json.loads(path.read_text()).get("results", []):
                return nb
        raise ResultsError(f"result {name!r} of study {self.study.study_id} not found in {self.folder}: "
                           "run the notebook that makes it for this study first")

    def has(self, name: str) -> bool:
        try:
            self.record(self._owner(name))
        except ResultsError:
            return False
        return (self.folder / f"{name}.parquet").exists()

    def load(self, name: str) -> pd.DataFrame:
        """A saved result table, refused when it belongs to another study."""
        self.record(self._owner(name))
        path = self.folder / f"{name}.parquet"
        if not path.exists():
            raise ResultsError(f"result file {path} is listed but missing: rerun its notebook")
        return pd.read_parquet(path)

    def estimates(self, notebooks: tuple[str, ...] | None = None, required: tuple[str, ...] = ()) -> pd.DataFrame:
        """The long estimate table of this study (validated on read); rows of another study
        are refused with a message naming both ids, and a ``required`` notebook whose run did
        not finish is refused by name."""
        parts = []
        for nb in required:
            if not self.record(nb).get("finished"):
                raise ResultsError(f"notebook {nb} did not finish for study {self.study.study_id} ({self.folder}): "
                                   "rerun it before the synthesis")
        for nb in notebooks or NOTEBOOKS:
            path = self.folder / f"estimates_{nb}.parquet"
            if not self._record_path(nb).exists() or not path.exists():
                if nb in required:
                    raise ResultsError(f"notebook {nb} has saved no estimates for study {self.study.study_id} "
                                       f"in {self.folder}: run it first")
                continue
            self.record(nb)
            frame = validate_estimates(pd.read_parquet(path), str(path))
            other = sorted(set(frame["study_id"]) - {self.study.study_id})
            if other:
                raise ResultsError(f"{path} holds estimates of study {', '.join(other)}, not of "
                                   f"{self.study.study_id} ({self.study})")
            parts.append(frame)
        if not parts:
            return validate_estimates(pd.DataFrame(columns=ESTIMATE_COLUMNS), str(self.folder))
        return validate_estimates(pd.concat(parts, ignore_index=True), f"{self.folder}/estimates_*.parquet")

    def _own_records(self):
        """``(notebook, run record)`` of every notebook that ran for this study, in order."""
        for nb in NOTEBOOKS:
            path = self._record_path(nb)
            if path.exists():
                record = json.loads(path.read_text())
                if record.get("study_id") == self.study.study_id:
                    yield nb, record

    def runs(self) -> pd.DataFrame:
        """How each notebook of this study ran: finished, notebook parameters, git commit."""
        rows = [{"notebook": nb, "finished": record.get("finished", "no"),
                 "notebook parameters": ", ".join(f"{k}={v}" for k, v in record.get("notebook_parameters", {}).items()),
                 "git commit": record.get("git_commit", "")[:10]} for nb, record in self._own_records()]
        return pd.DataFrame(rows, columns=["notebook", "finished", "notebook parameters", "git commit"])

    def skipped(self) -> pd.DataFrame:
        """Every section skipped by any notebook of this study, with the reason."""
        rows = [{"notebook": nb, **s} for nb, record in self._own_records() for s in record.get("skipped", [])]
        return pd.DataFrame(rows, columns=["notebook", "section", "reason"])


def open_store(study: Study, notebook: str, folder: Path | None = None, parameters: dict | None = None) -> Store:
    """The store a notebook writes to (its previous run's results for this study are dropped);
    ``parameters`` are the notebook's own parameters beyond the study's, kept in its run record."""
    return Store(study, notebook, folder=folder, reset=True, parameters=parameters)


def read_store(study: Study, folder: Path | None = None) -> Store:
    """A read-only view of a study's results (for the report and the comparison page)."""
    return Store(study, "06", folder=folder, reset=False)


def load_study(folder: Path) -> Study:
    """The study whose manifest is in ``folder``."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise ResultsError(f"{folder} has no manifest.json: not a study folder")
    from .study import from_parameters

    manifest = json.loads(path.read_text())
    study = from_parameters(manifest["parameters"])
    if study.study_id != manifest["study_id"]:
        raise ResultsError(f"{path}: study {manifest['study_id']} was built by other rules than the current code "
                           f"({study.study_id}): rerun it")
    return study


def study_folders() -> list[Path]:
    """Every study folder under ``data/processed/results`` (the default one first)."""
    root = config.results_dir()
    if not root.exists():
        return []
    folders = [p for p in sorted(root.iterdir()) if (p / "manifest.json").exists()]
    return sorted(folders, key=lambda p: (p.name != DEFAULT_FOLDER, p.name))
