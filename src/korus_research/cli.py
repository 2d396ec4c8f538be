"""Command line: ``korus-research fetch | prepare | run | study | studies | report | compare | partners | provenance``.

The Makefile calls these; they are usable by hand as well
(``python -m korus_research ...`` is the same). Every error the suite raises on purpose
(:class:`korus_research.errors.KorusError`) is printed as one line on stderr, with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import config
from .errors import KorusError, ParameterError


class NotebookError(KorusError):
    """A notebook run failed; the message carries the notebook's own error in one line."""


def _parse_value(text: str):
    """Parameter values as papermill's ``-p`` does: int, float, bool or text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("True", "False"):
        return text == "True"
    return text


STUDY_NOTEBOOKS = ("01_balance_overview", "02_decomposition", "03_agreement_effects", "04_gravity",
                   "05_macro_drivers", "07_structural_account", "08_beyond_the_mirror",
                   "06_joint_study")  # 06 reads the others: last


def run_notebook(name: str, parameters: dict, output_dir: Path | None = None,
                 progress: bool = True) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with papermill into ``reports/`` (or ``output_dir``).

    The source notebook is never written. The executed copy is written next to the target
    and moved into place only when every cell ran; a failed run leaves
    ``<name>.failed.ipynb`` (for reading the traceback) and raises :class:`NotebookError`
    with the notebook's own error in one line. The run time is recorded in
    ``<output_dir>/run_log.json`` for the report.
    """
    import papermill as pm

    stem = Path(name).stem
    source = config.notebooks_dir() / f"{stem}.ipynb"
    if not source.exists():
        known = sorted(p.stem for p in config.notebooks_dir().glob("*.ipynb"))
        raise ParameterError("notebook", stem, known)
    declared = pm.inspect_notebook(str(source))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(unknown[0], parameters[unknown[0]], sorted(declared),
                             f"not a parameter of notebook {stem}")
    output_dir = Path(output_dir or config.reports_dir())
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{stem}.ipynb"
    partial = output_dir / f".{stem}.running.ipynb"
    failed = output_dir / f"{stem}.failed.ipynb"
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(source), str(partial), parameters=parameters, cwd=str(config.notebooks_dir()),
            progress_bar=progress, kernel_name="python3",
        )
    except pm.PapermillExecutionError as exc:
        if partial.exists():
            os.replace(partial, failed)
        message = str(exc.evalue).strip().splitlines()[0] if str(exc.evalue).strip() else ""
        raise NotebookError(f"notebook {stem} failed in cell {exc.exec_count}: {exc.ename}: {message} "
                            f"(executed copy: {failed})") from None
    except Exception as exc:  # a dead kernel, a cell timeout, a kernel that would not start
        if partial.exists():
            os.replace(partial, failed)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise NotebookError(f"notebook {stem} failed: {type(exc).__name__}: {first}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    failed.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    _log_run(output_dir, stem, parameters, seconds)
    return target


def _log_run(output_dir: Path, stem: str, parameters: dict, seconds: float) -> None:
    log_path = output_dir / "run_log.json"
    with config.file_lock(output_dir / ".run_log.lock"):
        log = json.loads(log_path.read_text()) if log_path.exists() else {}
        log[stem] = {"seconds": round(seconds, 1), "parameters": parameters,
                     "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        tmp = log_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, log_path)


def study_parameters(partner: str, entry: str = "", base: str | int = "", compare: str | int = "",
                     controls: str = "default") -> dict:
    """The notebooks' study parameters for a ``make study`` run (validated by building the Study)."""
    from .study import Study

    study = Study.build(partner, entry=entry or "", base_year=base or 0, compare_year=compare or 0,
                        controls=controls or "default")
    params = {"partner": study.partner}
    if entry:
        params["entry"] = str(entry)
    if base:
        params["base_year"] = study.base_year
    if compare:
        params["compare_year"] = study.compare_year
    if study.controls != "default":
        params["controls"] = study.controls
    return params


def run_study(partner: str, entry: str = "", base: str | int = "", compare: str | int = "",
              controls: str = "default", jobs: int = 2, progress: bool = False) -> Path:
    """Run notebooks 01-07 for one study into ``reports/studies/<study id>/`` (01-05 and 07 in
    parallel, ``jobs`` at a time, then 06) and build that study's report. Results go to the
    study's own folder (never the default study's)."""
    from concurrent.futures import ThreadPoolExecutor

    from .study import Study

    params = study_parameters(partner, entry, base, compare, controls)
    study = Study.build(params["partner"], entry=params.get("entry", ""), base_year=params.get("base_year", 0),
                        compare_year=params.get("compare_year", 0), controls=params.get("controls", "default"))
    out = config.reports_dir() / "studies" / study.study_id
    env = {**os.environ, "KORUS_REPORTS": str(out), "KORUS_STUDY_SCOPE": "study"}
    print(f"{study}: reports/studies/{study.study_id}", flush=True)

    def one(stem: str) -> None:
        args = [sys.executable, "-m", "korus_research", "run", stem, "-o", str(out), "--quiet"]
        for key, value in params.items():
            args += ["-p", key, str(value)]
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            raise NotebookError(lines[-1].removeprefix("error: ") if lines else
                                f"notebook {stem} failed: {done.stderr.strip().splitlines()[-1:]}")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(one, stem) for stem in STUDY_NOTEBOOKS[:-1]]:
            future.result()
    one(STUDY_NOTEBOOKS[-1])
    from .report import build_report

    return build_report(out, study=study)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="korus-research", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_fetch = sub.add_parser(
        "fetch", help="copy or download every raw file into data/raw, verified",
        description="Copy (mirror) or download every raw file into data/raw, verified against the registry's "
                    "sha256 (KORUS_VINTAGES=locked: the lock file's, data-vintages.lock.json).")
    p_fetch.add_argument("files", nargs="*", help="registry paths (default: all; with --update: every file whose "
                         "official address serves its current release)")
    p_fetch.add_argument("--update", action="store_true",
                         help="download the current official release of FILES, verify that it is a well-formed "
                              "release of the same table, write its revisions against the pinned release to "
                              "reports/revisions/ and record it in data-vintages.lock.json (the release is kept in "
                              "data/raw/vintages/; the pinned copies in data/raw are not changed)")
    p_fetch.add_argument("--quiet", action="store_true")

    p_prep = sub.add_parser("prepare", help="build the validated tables in data/processed")
    p_prep.add_argument("steps", nargs="*", help="builder names (default: all)")
    p_prep.add_argument("--quiet", action="store_true")

    p_run = sub.add_parser("run", help="execute a notebook with papermill into reports/")
    p_run.add_argument("notebook")
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                       metavar=("NAME", "VALUE"))
    p_run.add_argument("-o", "--output-dir", type=Path, default=None)
    p_run.add_argument("--quiet", action="store_true")

    p_study = sub.add_parser("study", help="run notebooks 01-07 for one study into reports/studies/<study id>/")
    p_study.add_argument("--partner", required=True, help="ISO3 code")
    p_study.add_argument("--entry", default="", help="entry into force YYYY-MM-DD (hypothetical for a partner without one)")
    p_study.add_argument("--base", default="", help="base year (default: derived from the entry)")
    p_study.add_argument("--compare", default="", help="compare year (default: derived from the entry)")
    p_study.add_argument("--controls", default="default", help="'default' or ISO3 codes, comma-separated")
    p_study.add_argument("--jobs", type=int, default=2, help="notebooks run at once")

    p_rep = sub.add_parser("report", help="build the static HTML report of the default study in reports/")
    p_rep.add_argument("-o", "--output-dir", type=Path, default=None)

    sub.add_parser("compare", help="build reports/studies.html comparing every study in the results store")

    p_many = sub.add_parser(
        "studies", help="run partners x a sensitivity grid of studies on a Dask cluster, then reports/studies.html",
        description="Build one study per partner and grid point and run its notebooks as tasks on a Dask cluster "
                    "(a local one sized to the machine, or --scheduler / DASK_SCHEDULER); a failing study never stops "
                    "the others, finished studies are skipped as up to date on a rerun, and the run ends with a "
                    "summary table and the comparison page reports/studies.html. Exit 1 when a study failed.")
    p_many.add_argument("--partners", nargs="+", required=True, metavar="ISO3",
                        help="ISO3 codes, or 'agreements' for every US agreement partner in force by 2019")
    p_many.add_argument("--grid", default="default",
                        help="sensitivity grid: default (compare year derived, entry+2, entry+6), years (and the base "
                             "year derived or entry-3), none (one study per partner), or JSON of Study parameters to "
                             "lists, e.g. '{\"controls\": [\"default\", \"JPN,DEU,GBR\"]}'")
    p_many.add_argument("--scheduler", default=None,
                        help="address of an existing Dask scheduler, e.g. tcp://host:8786 (default: DASK_SCHEDULER, "
                             "else a local cluster); 'serial' runs every task in turn in this process")
    p_many.add_argument("--workers", type=int, default=None, help="workers of the local cluster (default: one per core)")
    p_many.add_argument("--notebooks", default=None,
                        help="notebooks to run, e.g. 01,06 (default: all, then each study's report)")
    p_many.add_argument("--no-compare", action="store_true", help="do not build reports/studies.html")
    p_many.add_argument("--quiet", action="store_true", help="no progress bar")

    p_part = sub.add_parser("partners", help="print the partners of the US agreements table (for make studies)")
    p_part.add_argument("--agreements", action="store_true", help="only partners with an agreement in force by 2019")

    sub.add_parser("provenance", help="print the data provenance table (Markdown)")

    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except KorusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: still one line (KORUS_DEBUG=1 shows the traceback)
        if os.environ.get("KORUS_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"error: unexpected {type(exc).__name__}: {first} (KORUS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 3


def _dispatch(args) -> int:
    if args.command == "fetch":
        if args.update:
            return _update(args.files)
        from . import registry
        from .fetch import fetch_all

        paths = fetch_all(args.files or None, progress=not args.quiet)
        locked = registry.locked_files()
        note = ""
        if locked:
            note = f" (locked vintages of {registry.lock_path().name}: " + ", ".join(
                f"{path} {entry['vintage']}" for path, entry in sorted(locked.items())) + ")"
        elif registry.vintages_mode() == "locked":
            note = f" (KORUS_VINTAGES=locked, but {registry.lock_path().name} records no vintage: all pinned)"
        print(f"{len(paths)} raw files verified in data/raw{note}")
    elif args.command == "prepare":
        from .prepare import prepare

        prepare(args.steps or None, progress=not args.quiet)
    elif args.command == "run":
        params = {k: _parse_value(v) for k, v in args.parameter}
        out = run_notebook(args.notebook, params, args.output_dir, progress=not args.quiet)
        print(f"wrote {out.relative_to(config.PROJECT_ROOT) if out.is_relative_to(config.PROJECT_ROOT) else out}")
    elif args.command == "study":
        index = run_study(args.partner, args.entry, args.base, args.compare, args.controls, args.jobs)
        print(f"wrote {index.relative_to(config.PROJECT_ROOT) if index.is_relative_to(config.PROJECT_ROOT) else index}")
    elif args.command == "report":
        from .report import build_report

        index = build_report(args.output_dir)
        print(f"wrote {index}")
    elif args.command == "compare":
        from .report import build_comparison

        print(f"wrote {build_comparison()}")
    elif args.command == "studies":
        return _studies(args)
    elif args.command == "partners":
        from .agreements import agreements_table
        from .study import LAST_ENTRY_YEAR

        table = agreements_table()
        if args.agreements:
            table = table[table["entry_into_force"].dt.year <= LAST_ENTRY_YEAR]
        print(" ".join(dict.fromkeys(table["partner"])))
    elif args.command == "provenance":
        from .registry import provenance_table

        table = provenance_table().drop(columns=["parser"])
        table["sha256"] = table["sha256"].str[:12] + "…"
        print(table.to_markdown(index=False))
    return 0


def _studies(args) -> int:
    """``studies``: the run's summary table, then the comparison page; exit 1 when a study failed
    or could not be built, 130 when interrupted (what finished is kept: the same command resumes)."""
    from .runner import format_summary, run_studies

    try:
        summary = run_studies(args.partners, args.grid, scheduler=args.scheduler, workers=args.workers,
                              notebooks=args.notebooks, progress=not args.quiet)
    except KeyboardInterrupt:
        print("interrupted: the notebooks that finished are kept; the same command resumes the rest", file=sys.stderr)
        return 130
    print(format_summary(summary))
    if not args.no_compare:
        from .comparison import build_studies_page

        page = build_studies_page()
        print(f"wrote {page.relative_to(config.PROJECT_ROOT) if page.is_relative_to(config.PROJECT_ROOT) else page}")
    return 1 if summary["status"].isin(["failed", "invalid"]).any() else 0


def _update(files: list[str]) -> int:
    """``fetch --update``: one line per file; every refusal as one ``error:`` line, exit 2."""
    from .vintages import update_files

    results, errors = update_files(files or None)
    for result in results:
        print(result.message())
    for exc in errors:
        print(f"error: {exc}", file=sys.stderr)
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
