"""The explorer: pick a study, read its results, choose which estimators count, run a missing study.

A core without a user interface (:class:`Explorer`, :class:`View`), and two front-ends on it:
the ipywidgets panel of :meth:`Explorer.widgets` (inside JupyterLab) and the Bokeh server app
of :mod:`korus_research.app` (``make app``). Both show the same things for the chosen study:

- the **attribution** of the change in the US goods balance (built on the structural account,
  as notebook 06 builds it; the additive accounting beside it as the cross-check);
- every **estimate of the agreement's effect** with its interval, design, rank and diagnostics;
- the **headline** by :data:`korus_research.synthesis.HEADLINE_RULE`, recomputed from the
  estimates that *count*: the economist may set designs (:data:`~korus_research.synthesis.DESIGNS`)
  or single estimators aside, and the attribution's agreement row, the autos row (the same
  designs estimate the agreement's effect on the autos balance) and "what is left" follow;
- the **sensitivity** of the headline: the headline, its interval and what is left when each
  counted design in turn is set aside, beside the report's headline (every design counted).

Nothing is re-estimated: :mod:`korus_research.synthesis` is re-applied to the study's saved
estimate table (:mod:`korus_research.results`). A study not yet in the store is run on demand
(:meth:`Explorer.run_missing`) by the same command as ``make study`` (``korus-research study``,
:func:`korus_research.cli.run_study`) in a child process, with progress read from the run records
the notebooks write; it writes into the study's own folder ``data/processed/results/<study id>/``
and never into the default study's folder (``default/``, written only by ``make``).

References
----------
Simonsohn, U., Simmons, J. P. and Nelson, L. D. (2020). Specification curve analysis.
    Nature Human Behaviour 4, 1208-1214 (the estimates shown side by side, the headline's
    dependence on which specifications count).
"""

from __future__ import annotations

import io as _io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, results, synthesis
from .cli import STUDY_NOTEBOOKS
from .errors import KorusError, ParameterError, ResultsError
from .study import DATA_YEARS, DEFAULT_PARTNER, Study

#: The notebooks a run executes (``korus-research study``: :data:`korus_research.cli.STUDY_NOTEBOOKS`).
RUN_NOTEBOOKS: tuple[str, ...] = tuple(stem[:2] for stem in STUDY_NOTEBOOKS)
#: Notebooks whose estimates the synthesis reads (notebook 06's own results are recomputed here, not read).
NEEDED: tuple[str, ...] = synthesis.INPUT_NOTEBOOKS
#: Design names, best first (:data:`korus_research.synthesis.DESIGNS`).
DESIGN_NAMES: tuple[str, ...] = tuple(d.name for d in synthesis.DESIGNS)
#: Quantities whose estimates the headline rule chooses from (the balance, and the autos balance
#: ranked by the same designs).
AGREEMENT_QUANTITIES = (synthesis.AGREEMENT, synthesis.DIRECTIONAL, synthesis.GENERAL_GRAVITY,
                        "agreement effect on the balance change", synthesis.AUTOS_AGREEMENT)
#: ``progress(done, total, message)``: called by :meth:`Explorer.run_missing`.
Progress = Callable[[int, int, str], None]

_RUNNING: set[str] = set()          # study ids being run by this process
_RUNNING_LOCK = threading.Lock()


# --------------------------------------------------------------------------- choosing the estimates
def design_name(estimator: str, quantity: str = synthesis.AGREEMENT) -> str | None:
    """The design an estimate belongs to (as the headline rule ranks it), or ``None``."""
    ranked_as = synthesis.AGREEMENT if quantity == synthesis.AUTOS_AGREEMENT else quantity
    _, design = synthesis.design_of(estimator, ranked_as)
    return design.name if design is not None else None


def _check_designs(designs: Iterable[str] | None) -> tuple[str, ...]:
    if designs is None:
        return DESIGN_NAMES
    designs = tuple(designs) if not isinstance(designs, str) else (designs,)
    unknown = [d for d in designs if d not in DESIGN_NAMES]
    if unknown:
        raise ParameterError("designs", unknown[0], list(DESIGN_NAMES))
    return tuple(d for d in DESIGN_NAMES if d in designs)


def counted_estimates(est: pd.DataFrame, designs: Iterable[str] | None = None,
                      exclude_estimators: Iterable[str] = ()) -> pd.DataFrame:
    """The estimate table without the estimates of the agreement's effect that do not count.

    Parameters
    ----------
    est : DataFrame
        A study's estimate table (:meth:`korus_research.results.Store.estimates`).
    designs : iterable of str, optional
        Names of the designs that count (default: every design of
        :data:`~korus_research.synthesis.DESIGNS`).
    exclude_estimators : iterable of str
        Estimators set aside one by one (by their name in the estimate table).

    Returns
    -------
    DataFrame
        ``est`` without the rows of :data:`AGREEMENT_QUANTITIES` whose design is not among
        ``designs`` or whose estimator is excluded; every other row is kept as it is.
    """
    designs = set(_check_designs(designs))
    excluded = set(exclude_estimators)
    about = est["quantity"].isin(AGREEMENT_QUANTITIES)
    drop = pd.Series(False, index=est.index)
    for i in est.index[about]:
        name = design_name(est.at[i, "estimator"], est.at[i, "quantity"])
        drop.at[i] = est.at[i, "estimator"] in excluded or (name is not None and name not in designs)
    return est[~drop]


def _left(table: pd.DataFrame) -> float:
    return float(table.loc[synthesis.LEFT, "usd_bn"]) if synthesis.LEFT in table.index else np.nan


def _scenario(name: str, chosen: dict, table: pd.DataFrame, reference: dict) -> dict:
    has = chosen["design"] is not None
    change = chosen["estimate"] - reference["estimate"] if has and reference["design"] is not None else np.nan
    return {"scenario": name, "headline design": chosen["design"] or "none passes its checks",
            "estimator": chosen["estimator"] or "", "estimate": chosen["estimate"], "ci_low": chosen["ci_low"],
            "ci_high": chosen["ci_high"], "change from the report": change, "what is left": _left(table)}


SENSITIVITY_COLUMNS = ["scenario", "estimate", "ci_low", "ci_high", "change from the report",
                       "what is left", "headline design", "estimator"]
#: Units of the number columns of the explorer's tables (for :mod:`korus_research.formatting`).
UNITS = {"usd_bn": "US$ bn", "low": "US$ bn", "high": "US$ bn", "estimate": "US$ bn", "ci_low": "US$ bn",
         "ci_high": "US$ bn", "change from the report": "US$ bn", "what is left": "US$ bn",
         "rank": "count"}


def sensitivity(est: pd.DataFrame, study: Study, designs: Iterable[str] | None = None,
                exclude_estimators: Iterable[str] = ()) -> pd.DataFrame:
    """How the headline moves with the designs that count: the ladder of the headline rule.

    Rows: the report's rule (every design counts), the economist's selection, then the
    selection with its headline's design set aside, then the next headline's design too, and
    so on until no counted design passes its checks: what the headline would be if each
    chosen design in turn were not believed. Columns :data:`SENSITIVITY_COLUMNS`: the design
    and estimator chosen, the estimate with its 95% interval, its change from the report's
    headline, and what the attribution on the structural account leaves unexplained (US$ bn).
    """
    designs = list(_check_designs(designs))
    excluded = tuple(exclude_estimators)
    every_table, _ = synthesis.structural_attribution(est, study)
    reference = every_table.attrs["agreement"]
    rows = [_scenario("the report's rule: every design counts", reference, every_table, reference)]
    table, _ = synthesis.structural_attribution(counted_estimates(est, designs, excluded), study)
    chosen = table.attrs["agreement"]
    rows.append(_scenario("your selection", chosen, table, reference))
    while chosen["design"] is not None and chosen["design"] in designs:
        designs.remove(chosen["design"])
        set_aside = chosen["design"]
        table, _ = synthesis.structural_attribution(counted_estimates(est, designs, excluded), study)
        chosen = table.attrs["agreement"]
        rows.append(_scenario(f"then without {set_aside}", chosen, table, reference))
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


# --------------------------------------------------------------------------- what a selection shows
@dataclass(frozen=True)
class Selection:
    """A study and where its results are: ``folder`` is read from, or written by a run."""

    study: Study
    folder: Path
    source: str                          # "default study", "study folder" or "not in the store"
    finished: tuple[str, ...] = ()       # notebooks whose run finished for this study

    @property
    def missing(self) -> tuple[str, ...]:
        """Notebooks the synthesis needs that have not finished for this study."""
        return tuple(nb for nb in NEEDED if nb not in self.finished)

    @property
    def exists(self) -> bool:
        """Whether the store holds every result the explorer needs for this study."""
        return not self.missing

    def describe(self) -> str:
        where = _relative(self.folder)
        if self.exists:
            return f"{self.study}: results in {where} ({self.source})"
        if self.finished:
            return (f"{self.study}: incomplete in {where} (notebooks {', '.join(self.missing)} have not finished); "
                    "run it to complete")
        return (f"{self.study}: not in the results store; running it (about 2-4 minutes: seven notebooks, as "
                f"make study runs them) writes {where}")


@dataclass(frozen=True)
class View:
    """What the explorer shows for a study and a choice of the estimates that count."""

    study: Study
    designs: tuple[str, ...]
    excluded_estimators: tuple[str, ...]
    attribution: pd.DataFrame            # on the structural account (notebook 06's main table)
    accounting: pd.DataFrame             # the additive accounting (the cross-check)
    estimates: pd.DataFrame              # every estimate of the agreement's effect, with "counts" and "headline"
    headline: dict                       # by the rule, from the estimates that count
    reference: dict                      # by the rule, every design counted (the report's headline)
    sensitivity: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        """Whether the selection changes the report's headline."""
        return (self.headline["estimator"], self.headline["design"]) != (self.reference["estimator"],
                                                                       self.reference["design"])

    def headline_text(self) -> str:
        """The headline in one sentence (and the report's, when the selection changes it)."""
        what = f"the {self.study.compare_year} US goods balance with {self.study.partner}"
        if self.headline["design"] is None:
            text = (f"No counted design passes its own diagnostics with a 95% interval: no headline effect on {what} "
                    "(the agreement's part stays in what is left).")
        else:
            text = (f"Headline effect of the agreement on {what}: {_bn(self.headline['estimate'])} "
                    f"(95% CI {_bn(self.headline['ci_low'], unit=False)} to {_bn(self.headline['ci_high'], unit=False)}), "
                    f"{self.headline['design']}: {self.headline['estimator']}.")
        if self.changed:
            ref = self.reference
            text += (" The report's rule with every design gives "
                     + (f"{_bn(ref['estimate'])} ({ref['design']})" if ref["design"] is not None else "no headline")
                     + ".")
        else:
            text += " Same as the report's rule with every design."
        return text

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables as the reader sees them (text, by :func:`korus_research.formatting.format_frame`)."""
        from .formatting import format_frame

        attribution = self.attribution.reset_index()
        accounting = self.accounting.reset_index()
        estimates = self.estimates.assign(counts=self.estimates["counts"].map({True: "yes", False: "no"}),
                                          headline=self.estimates["headline"].map({True: "yes", False: ""}))
        estimates["rank"] = estimates["rank"] + 1
        return {"attribution": format_frame(attribution, units=_units(attribution)),
                "estimates": format_frame(estimates[ESTIMATE_COLUMNS], units=_units(estimates[ESTIMATE_COLUMNS])),
                "sensitivity": format_frame(self.sensitivity, units=_units(self.sensitivity)),
                "accounting": format_frame(accounting, units=_units(accounting))}


#: Columns of the estimates table shown (from :func:`korus_research.synthesis.agreement_estimates`).
ESTIMATE_COLUMNS = ["counts", "headline", "estimator", "estimate", "ci_low", "ci_high", "interval", "diagnostics",
                    "design", "rank", "notebook", "diagnostics_detail"]


def _units(frame: pd.DataFrame) -> dict:
    return {c: u for c, u in UNITS.items() if c in frame.columns}


def _bn(value: float, unit: bool = True) -> str:
    from .formatting import format_number

    if value is None or not np.isfinite(value):
        return "–"
    text = format_number(value, "US$ bn")
    text = text if text.startswith("-") or text == "0.0" else f"+{text}"
    return f"{text} bn" if unit else text


def _relative(path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(config.PROJECT_ROOT)) if path.is_relative_to(config.PROJECT_ROOT) else str(path)


def _finished(folder: Path, study_id: str) -> tuple[str, ...]:
    done = []
    for nb in results.NOTEBOOKS:
        path = folder / "runs" / f"{nb}.json"
        if not path.exists():
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("study_id") == study_id and record.get("finished"):
            done.append(nb)
    return tuple(done)


def _manifest_id(folder: Path) -> str | None:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("study_id")
    except (OSError, ValueError):
        return None


def default_folder() -> Path:
    """The default study's folder (``data/processed/results/default``): read, never written here."""
    return config.results_dir() / results.DEFAULT_FOLDER


def run_folder(study: Study) -> Path:
    """Where a run of ``study`` writes: its own folder, never the default study's.

    Raises
    ------
    ResultsError
        When the folder the results store gives would be the default study's folder.
    """
    folder = results.study_folder(study, "study")
    default = default_folder()
    if folder.name == results.DEFAULT_FOLDER or folder.resolve() == default.resolve() \
            or folder.resolve().is_relative_to(default.resolve()):
        raise ResultsError(f"a run from the explorer would write {folder}, the default study's folder: refused "
                           "(only make writes the default study)")
    return folder


def study_command(study: Study, jobs: int = 2) -> list[str]:
    """The command that runs ``study`` (what ``make study`` runs: ``korus-research study``)."""
    from .cli import study_parameters

    params = study_parameters(study.partner, study.parameters()["entry"] if study.entry_source.startswith("override")
                              else "", study.base_year, study.compare_year, study.controls)
    argv = [sys.executable, "-m", "korus_research", "study", "--partner", params["partner"], "--jobs", str(jobs)]
    for key, flag in (("entry", "--entry"), ("base_year", "--base"), ("compare_year", "--compare"),
                      ("controls", "--controls")):
        if key in params:
            argv += [flag, str(params[key])]
    return argv


@lru_cache(maxsize=1)
def partner_choices() -> tuple[tuple[str, str], ...]:
    """``(label, ISO3)`` of every partner a study can be built for: the partners of the Census
    table (or, before it is built, of the US agreements table), labelled with their names."""
    from .agreements import agreements_table
    from .study import capabilities, census_partners

    codes = set(census_partners() or ()) | set(agreements_table()["partner"]) | {DEFAULT_PARTNER}
    codes.discard("USA")
    return tuple((f"{c} · {capabilities(c).name}", c) for c in sorted(codes))


YEARS = tuple(range(DATA_YEARS["census"][0], DATA_YEARS["census"][1] + 1))


# --------------------------------------------------------------------------- the explorer
class Explorer:
    """Choose a study, read its results, recompute the headline, run a missing study.

    The results store is ``korus_research.config.results_dir()`` (``KORUS_DATA_PROCESSED``
    moves it). An explorer reads the default study's folder and the studies' own folders; the
    only thing it writes is a run of a missing study, into that study's own folder.

    Examples
    --------
    >>> ex = Explorer()
    >>> ex.select("KOR")                                        # doctest: +SKIP
    >>> v = ex.view(designs=DESIGN_NAMES[1:])                   # doctest: +SKIP
    >>> v.headline["estimate"], v.reference["estimate"]         # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.selection: Selection | None = None
        self._cache: dict[tuple, tuple[tuple, pd.DataFrame]] = {}

    # ------------------------------------------------------------------ the store
    def available(self) -> pd.DataFrame:
        """Every study in the results store: ``study_id, partner, agreement, entry, base_year,
        compare_year, controls, where`` ("default study" or "study folder"), ``complete``,
        ``folder``; the default study first. A folder whose study the current rules would build
        differently is listed with ``complete`` False and a note."""
        rows = []
        for folder in results.study_folders():
            where = "default study" if folder.name == results.DEFAULT_FOLDER else "study folder"
            try:
                study = results.load_study(folder)
            except KorusError as err:
                rows.append({"study_id": _manifest_id(folder) or folder.name, "partner": folder.name[:3],
                             "where": where, "complete": False, "folder": folder, "note": str(err)})
                continue
            p = study.parameters()
            rows.append({"study_id": study.study_id, "partner": study.partner, "agreement": study.agreement,
                         "entry": p["entry"] or "", "base_year": study.base_year, "compare_year": study.compare_year,
                         "controls": study.controls, "where": where,
                         "complete": not [nb for nb in NEEDED if nb not in _finished(folder, study.study_id)],
                         "folder": folder, "note": ""})
        columns = ["study_id", "partner", "agreement", "entry", "base_year", "compare_year", "controls", "where",
                   "complete", "folder", "note"]
        return pd.DataFrame(rows, columns=columns)

    def select(self, partner: str = DEFAULT_PARTNER, base_year: int | None = 0, compare_year: int | None = 0,
               controls: str = "default", entry: str | None = "") -> Selection:
        """Choose the study (``0`` / ``""`` derive a parameter, as in :meth:`Study.build`) and find
        its results: the default study's folder when it holds this study, else the study's own.

        Raises
        ------
        ParameterError
            A parameter :meth:`Study.build` refuses (the message names it and its valid values).
        """
        study = Study.build(partner, entry=entry or "", base_year=base_year or 0, compare_year=compare_year or 0,
                            controls=(controls or "default").strip() or "default")
        self.selection = self.locate(study)
        return self.selection

    def locate(self, study: Study) -> Selection:
        """Where ``study``'s results are (without selecting it)."""
        candidates = []
        if _manifest_id(default_folder()) == study.study_id:
            candidates.append((default_folder(), "default study"))
        candidates.append((results.study_folder(study, "study"), "study folder"))
        found = [(folder, source, _finished(folder, study.study_id)) for folder, source in candidates]
        complete = [f for f in found if not [nb for nb in NEEDED if nb not in f[2]]]
        started = [f for f in found if f[2]]
        folder, source, finished = (complete or started or [found[-1]])[0]
        return Selection(study, folder, source if finished else "not in the store", finished)

    def _selected(self) -> Selection:
        if self.selection is None:
            raise ResultsError("no study selected: call Explorer.select first")
        return self.selection

    def estimates(self) -> pd.DataFrame:
        """The selected study's estimate table (notebooks 01-05 and 07), read once per change on disk."""
        sel = self._selected()
        if not sel.exists:
            raise ResultsError(f"{sel.describe()}: run it first (Explorer.run_missing, or make study)")
        files = sorted(sel.folder.glob("estimates_*.parquet")) + sorted((sel.folder / "runs").glob("*.json"))
        signature = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        key = (str(sel.folder), sel.study.study_id)
        cached = self._cache.get(key)
        if cached is None or cached[0] != signature:
            store = results.read_store(sel.study, sel.folder)
            self._cache[key] = (signature, store.estimates(NEEDED, required=NEEDED))
        return self._cache[key][1]

    def estimators(self) -> list[str]:
        """The estimators of the agreement's effect in the selected study, best-ranked design first."""
        every = synthesis.agreement_estimates(self.estimates(), self._selected().study)
        return list(dict.fromkeys(every["estimator"]))

    def view(self, designs: Iterable[str] | None = None, exclude_estimators: Iterable[str] = ()) -> View:
        """Attribution, agreement estimates and headline when only ``designs`` count (default: all)
        and ``exclude_estimators`` are set aside; with the sensitivity of the headline."""
        sel = self._selected()
        study, est = sel.study, self.estimates()
        designs = _check_designs(designs)
        excluded = tuple(exclude_estimators)
        counted = counted_estimates(est, designs, excluded)
        attribution, _ = synthesis.structural_attribution(counted, study)
        accounting, _ = synthesis.attribution(counted, study)
        every = synthesis.agreement_estimates(est, study)
        reference = synthesis.headline(every)
        chosen = attribution.attrs["agreement"]
        table = every.copy()
        table["counts"] = table["design"].isin(designs) & ~table["estimator"].isin(excluded)
        table["headline"] = table["estimator"].eq(chosen["estimator"]) & table["design"].eq(chosen["design"])
        notes = []
        if set(excluded) - set(every["estimator"]):
            notes.append("estimators set aside but not in this study: " + ", ".join(sorted(set(excluded) - set(every["estimator"]))))
        return View(study=study, designs=designs, excluded_estimators=excluded, attribution=attribution,
                    accounting=accounting, estimates=table, headline=chosen, reference=reference,
                    sensitivity=sensitivity(est, study, designs, excluded), notes=tuple(notes))

    # ------------------------------------------------------------------ running a missing study
    def run_missing(self, progress: Progress | None = None, jobs: int = 2, cancel: threading.Event | None = None,
                    poll: float = 0.5) -> Selection:
        """Run the selected study when the store lacks its results, as ``make study`` does.

        The notebooks run in a child process (``korus-research study``, with
        ``KORUS_STUDY_SCOPE=study``) into ``data/processed/results/<study id>/`` and the study's
        report into ``reports/studies/<study id>/``; the default study's folder is never the
        target (:func:`run_folder` refuses it). ``progress(done, total, message)`` is called
        about every ``poll`` seconds from the run records the notebooks write (``total``: the
        seven notebooks and the report). Setting ``cancel`` stops the run (its notebooks are
        killed; what they wrote is a run record without ``finished``, which the synthesis refuses).

        Returns
        -------
        Selection
            Where the study's results now are (it stays selected unless another was selected meanwhile).

        Raises
        ------
        ResultsError
            The run would target the default folder, the study is already being run by this
            process, or the run was cancelled.
        korus_research.cli.NotebookError
            A notebook failed (the message is the notebook's own error line).
        """
        from .cli import NotebookError

        sel = self._selected()
        study = sel.study
        total = len(RUN_NOTEBOOKS) + 1
        report = progress or (lambda done, total, message: None)
        if sel.exists:
            report(total, total, f"{study.study_id}: results already in {_relative(sel.folder)}")
            return sel
        target = run_folder(study)
        with _RUNNING_LOCK:
            if study.study_id in _RUNNING:
                raise ResultsError(f"{study.study_id} is already running in this explorer")
            _RUNNING.add(study.study_id)
        try:
            env = {**os.environ, results.SCOPE_VARIABLE: "study"}
            argv = study_command(study, jobs)
            report(0, total, f"starting {study.study_id}: {' '.join(argv[2:])}")
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            proc = subprocess.Popen(argv, env=env, cwd=str(config.PROJECT_ROOT), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
            while True:
                try:
                    _, stderr = proc.communicate(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel.is_set():
                        _stop(proc)
                        raise ResultsError(f"the run of {study.study_id} was cancelled; its unfinished notebooks "
                                           "left run records without 'finished', which the synthesis refuses") from None
                    done, running = _run_state(target, study.study_id, started)
                    report(done, total, f"{done} of {len(RUN_NOTEBOOKS)} notebooks done"
                           + (f"; running {', '.join(running)}" if running else "")
                           + ("; building the report" if done == len(RUN_NOTEBOOKS) else ""))
            if proc.returncode != 0:
                lines = [line.removeprefix("error: ") for line in stderr.splitlines() if line.startswith("error:")]
                raise NotebookError(lines[-1] if lines else f"korus-research study exited with code {proc.returncode}: "
                                    + " ".join(stderr.strip().splitlines()[-1:]))
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(study.study_id)
        report(total, total, f"{study.study_id} done: results in {_relative(target)}, report in "
               f"{_relative(config.reports_dir() / 'studies' / study.study_id / 'index.html')}")
        fresh = self.locate(study)
        if self.selection is sel:  # the economist may have chosen another study meanwhile
            self.selection = fresh
        return fresh

    # ------------------------------------------------------------------ front-end
    def widgets(self):
        """The explorer as ipywidgets (a ``VBox``), for JupyterLab; see :class:`ExplorerWidgets`."""
        return ExplorerWidgets(self).box


def _run_state(folder: Path, study_id: str, started: str) -> tuple[int, list[str]]:
    """Notebooks finished and running in this run, from their run records."""
    done, running = 0, []
    for nb in RUN_NOTEBOOKS:
        path = folder / "runs" / f"{nb}.json"
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("study_id") != study_id or record.get("started", "") < started:
            continue
        if record.get("finished"):
            done += 1
        else:
            running.append(nb)
    return done, running


def _stop(proc: subprocess.Popen) -> None:
    """Stop a run and the notebooks it started (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- ipywidgets front-end
def _year_options(derived: int | None) -> list[tuple[str, int]]:
    return [(f"derived ({derived})" if derived else "derived", 0)] + [(str(y), y) for y in YEARS]


def figure_png(view: View, dpi: int = 90) -> bytes:
    """The agreement estimates that count, with their intervals (the report's specification
    curve, :func:`korus_research.plots.specification_curve`), as PNG bytes."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots

    counted = view.estimates[view.estimates["counts"]].drop(columns=["counts", "headline"])
    curve = synthesis.robustness(counted, view.headline)
    title = (f"The agreement's effect on the {view.study.compare_year} US balance with {view.study.partner}: "
             f"the {len(curve)} estimates that count")
    if not len(curve):
        fig, ax = plt.subplots(figsize=(8, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no estimate counts: tick at least one design", ha="center", va="center")
    else:
        fig = plots.specification_curve(curve, None, "", title)
    buffer = _io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)  # a figure left open would be shown again by the inline backend
    return buffer.getvalue()


class ExplorerWidgets:
    """The explorer as ipywidgets: the same controls and tables as the Bokeh app.

    ``box`` is the ``VBox`` to display (``Explorer().widgets()`` returns it); the controls are
    attributes (``partner``, ``base``, ``compare``, ``entry``, ``controls``, ``stored``,
    ``designs`` (one checkbox per design), ``exclude``, ``reset``, ``run``, ``stop``, ``progress``) and so are the
    outputs (``status``, ``headline``, ``attribution``, ``figure``, ``estimates``,
    ``sensitivity``, ``accounting``), all plain widgets whose values can be read without a kernel.
    """

    def __init__(self, explorer: Explorer | None = None, partner: str = DEFAULT_PARTNER):
        import ipywidgets as w

        self.explorer = explorer or Explorer()
        self.view: View | None = None
        self._busy = False
        self._cancel = threading.Event()
        self._figures: dict[tuple, bytes] = {}
        wide = w.Layout(width="100%")
        style = {"description_width": "110px"}
        self.stored = w.Dropdown(description="in the store", options=self._stored_options(), style=style,
                                 layout=wide)
        self.partner = w.Dropdown(description="partner", options=partner_choices(), value=partner, style=style,
                                  layout=wide)
        self.entry = w.Text(description="entry date", placeholder="YYYY-MM-DD, blank: agreements table",
                            style=style, layout=wide, continuous_update=False)
        self.base = w.Dropdown(description="base year", options=_year_options(None), value=0, style=style, layout=wide)
        self.compare = w.Dropdown(description="compare year", options=_year_options(None), value=0, style=style,
                                  layout=wide)
        self.controls = w.Text(description="control group", value="default", placeholder="default, or JPN,DEU,...",
                               style=style, layout=wide, continuous_update=False)
        self.designs = [w.Checkbox(value=True, description=f"{k + 1}. {name}", indent=False, layout=wide)
                        for k, name in enumerate(DESIGN_NAMES)]
        self.exclude = w.SelectMultiple(description="set aside", options=[], rows=6, style=style, layout=wide)
        self.reset = w.Button(description="Count every design (the report's rule)", layout=wide)
        self.run = w.Button(description="Run this study", button_style="primary", disabled=True, icon="play")
        self.stop = w.Button(description="Cancel", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=len(RUN_NOTEBOOKS) + 1, description="run",
                                      style=style, layout=wide)
        self.progress_text = w.HTML()
        self.status = w.HTML()
        self.headline = w.HTML()
        self.attribution = w.HTML()
        self.figure = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.estimates = w.HTML()
        self.sensitivity = w.HTML()
        self.accounting = w.HTML()
        tabs = w.Tab(children=[self.estimates, self.accounting])
        for k, title in enumerate(("every estimate of the agreement's effect", "additive accounting (cross-check)")):
            tabs.set_title(k, title)
        left = w.VBox([w.HTML("<b>Study</b>"), self.stored, self.partner, self.entry, self.base, self.compare,
                       self.controls, w.HBox([self.run, self.stop]), self.progress, self.progress_text,
                       w.HTML("<b>Which estimators count</b> (designs, best first)"), *self.designs, self.exclude,
                       self.reset],
                      layout=w.Layout(width="360px", min_width="320px"))
        right = w.VBox([self.status, self.headline, w.HTML("<b>Attribution of the change in the US goods balance"
                                                           " (US$ bn, structural account)</b>"),
                        self.attribution,
                        w.HTML("<b>Sensitivity of the headline</b>: the headline if each chosen design in turn were "
                               "not believed (US$ bn; what is left absorbs the change)"),
                        self.sensitivity, self.figure, tabs], layout=w.Layout(flex="1 1 auto", overflow="auto"))
        self.box = w.VBox([w.HTML("<h3>KORUS explorer: the US goods balance with a partner</h3>"),
                           w.HBox([left, right])])
        self.box.panel = self
        for control in (self.partner, self.entry, self.base, self.compare, self.controls):
            control.observe(self._on_study, names="value")
        for box in self.designs:
            box.observe(self._on_counts, names="value")
        self.exclude.observe(self._on_counts, names="value")
        self.stored.observe(self._on_stored, names="value")
        self.run.on_click(self._on_run)
        self.stop.on_click(lambda _: self._cancel.set())
        self.reset.on_click(self._on_reset)
        self._on_study()

    # -------------------------------------------------------------- callbacks
    def _stored_options(self) -> list[tuple[str, str]]:
        table = self.explorer.available()
        options = [("choose a study in the store…", "")]
        for r in table[table["complete"]].itertuples():
            options.append((f"{r.study_id} · {r.partner} {r.base_year}→{r.compare_year}, controls {r.controls}"
                            + (" (default study)" if r.where == "default study" else ""), str(r.folder)))
        return options

    def _on_stored(self, change=None) -> None:
        if not self.stored.value:
            return
        study = results.load_study(Path(self.stored.value))
        p = study.parameters()
        self._busy = True
        try:
            self.partner.value = study.partner
            self.entry.value = p["entry"] if study.entry_source.startswith("override") else ""
            self.base.value, self.compare.value = study.base_year, study.compare_year
            self.controls.value = study.controls
        finally:
            self._busy = False
        self._on_study()

    def _on_study(self, change=None) -> None:
        if self._busy:
            return
        if change is not None and change["owner"] is self.partner:
            self._busy = True
            try:  # another partner: its own derived years and entry date
                self.entry.value, self.base.value, self.compare.value = "", 0, 0
            finally:
                self._busy = False
        try:
            derived = Study.build(self.partner.value, entry=self.entry.value.strip())
            self._set_year_labels(derived)
            sel = self.explorer.select(self.partner.value, self.base.value, self.compare.value,
                                       self.controls.value, self.entry.value.strip())
        except KorusError as err:
            self._clear(f"<span style='color:#b2182b'>{_esc(err)}</span>")
            return
        self.status.value = _esc(sel.describe())
        self.run.disabled = sel.exists
        if not sel.exists:
            self._clear(self.status.value)
            return
        estimators = self.explorer.estimators()
        kept = [e for e in self.exclude.value if e in estimators]
        self._busy = True
        try:
            self.exclude.options = estimators
            self.exclude.value = tuple(kept)
        finally:
            self._busy = False
        self._on_counts()

    def _set_year_labels(self, derived: Study) -> None:
        self._busy = True
        try:
            base, compare = self.base.value, self.compare.value
            self.base.options = _year_options(derived.base_year)
            self.compare.options = _year_options(derived.compare_year)
            self.base.value, self.compare.value = base, compare
        finally:
            self._busy = False

    def _on_counts(self, change=None) -> None:
        if self._busy or self.explorer.selection is None or not self.explorer.selection.exists:
            return
        designs = [name for name, box in zip(DESIGN_NAMES, self.designs, strict=True) if box.value]
        try:
            view = self.explorer.view(designs, self.exclude.value)
        except KorusError as err:
            self._clear(f"<span style='color:#b2182b'>{_esc(err)}</span>")
            return
        self.view = view
        tables = view.tables()
        self.headline.value = (f"<p style='font-size:1.15em;border-left:4px solid "
                               f"{'#b2182b' if view.changed else '#1b7837'};padding-left:8px'>"
                               f"{_esc(view.headline_text())}</p>")
        self.attribution.value = _html(tables["attribution"])
        self.estimates.value = _html(tables["estimates"])
        self.sensitivity.value = _html(tables["sensitivity"])
        self.accounting.value = _html(tables["accounting"])
        key = (view.study.study_id, tuple(view.estimates["counts"]), view.headline["estimator"], view.headline["design"])
        if key not in self._figures:
            self._figures[key] = figure_png(view)  # the slowest step (about 0.5 s): drawn once per choice
        self.figure.value = self._figures[key]

    def _on_reset(self, _=None) -> None:
        self._busy = True
        try:
            for box in self.designs:
                box.value = True
            self.exclude.value = ()
        finally:
            self._busy = False
        self._on_counts()

    def _clear(self, message: str) -> None:
        self.view = None
        self.status.value = message
        self.headline.value = ""
        for out in (self.attribution, self.estimates, self.sensitivity, self.accounting):
            out.value = ""
        self.figure.value = b""

    def _on_run(self, _=None) -> None:
        self.run.disabled, self.stop.disabled = True, False
        self.status.value = _esc(f"running {self.explorer.selection.study}: the tables appear when it finishes")
        self._cancel.clear()
        threading.Thread(target=self.run_now, daemon=True).start()

    def run_now(self) -> None:
        """Run the selected study (what the Run button does, in a thread), updating the progress bar."""
        def progress(done: int, total: int, message: str) -> None:
            self.progress.max, self.progress.value = total, done
            self.progress_text.value = _esc(message)

        try:
            self.explorer.run_missing(progress, cancel=self._cancel)
        except KorusError as err:
            self.progress_text.value = f"<span style='color:#b2182b'>{_esc(err)}</span>"
        finally:
            self.stop.disabled = True
        self.stored.options = self._stored_options()
        self._on_study()


def _esc(text) -> str:
    import html

    return html.escape(str(text))


def _html(frame: pd.DataFrame) -> str:
    """A formatted table (text cells) as scrolling HTML with numbers right-aligned, not wrapped."""
    import html

    numeric = [c for c in frame.columns if len(frame) and frame[c].map(_is_number_text).all()]
    head = "".join(f"<th style='text-align:{'right' if c in numeric else 'left'};padding:2px 8px'>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    body = "".join("<tr>" + "".join(
        f"<td style='padding:2px 8px;{'text-align:right;white-space:nowrap' if c in numeric else 'text-align:left'}'>"
        f"{html.escape(str(v))}</td>" for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
        for row in frame.itertuples(index=False))
    return (f"<div style='overflow-x:auto;max-width:100%'><table style='border-collapse:collapse;font-size:0.85em'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _is_number_text(text) -> bool:
    """A formatted number (``-1,234.5``), or the dash of a missing one."""
    text = str(text).replace(",", "").strip()
    if text in ("", "–"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True
