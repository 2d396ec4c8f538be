"""Command line: ``korus-research fetch | prepare | run NOTEBOOK -p NAME VALUE | report``.

The Makefile calls these; they are usable by hand as well
(``python -m korus_research ...`` is the same).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import config


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


def run_notebook(name: str, parameters: dict, output_dir: Path | None = None,
                 progress: bool = True) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with papermill into ``reports/`` (or ``output_dir``).

    The source notebook is never written. The run time is recorded in
    ``<output_dir>/run_log.json`` for the report.
    """
    import papermill as pm

    stem = Path(name).stem
    source = config.notebooks_dir() / f"{stem}.ipynb"
    if not source.exists():
        known = sorted(p.stem for p in config.notebooks_dir().glob("*.ipynb"))
        raise SystemExit(f"notebook {stem!r} not found in notebooks/; known: {known}")
    output_dir = Path(output_dir or config.reports_dir())
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{stem}.ipynb"
    start = time.perf_counter()
    pm.execute_notebook(
        str(source), str(target), parameters=parameters, cwd=str(config.notebooks_dir()),
        progress_bar=progress, kernel_name="python3",
    )
    seconds = time.perf_counter() - start
    log_path = output_dir / "run_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    log[stem] = {"seconds": round(seconds, 1), "parameters": parameters,
                 "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    log_path.write_text(json.dumps(log, indent=2, sort_keys=True) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="korus-research", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_fetch = sub.add_parser("fetch", help="copy or download every raw file into data/raw, verified")
    p_fetch.add_argument("files", nargs="*", help="registry paths (default: all)")
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

    p_rep = sub.add_parser("report", help="build the static HTML report in reports/")
    p_rep.add_argument("-o", "--output-dir", type=Path, default=None)

    p_cmp = sub.add_parser("compare", help="build reports/studies.html comparing partners' studies")
    p_cmp.add_argument("partners", nargs="+")

    sub.add_parser("provenance", help="print the data provenance table (Markdown)")

    args = parser.parse_args(argv)
    if args.command == "fetch":
        from .fetch import FetchError, fetch_all

        try:
            paths = fetch_all(args.files or None, progress=not args.quiet)
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{len(paths)} raw files verified in data/raw")
    elif args.command == "prepare":
        from .errors import DataError
        from .prepare import prepare

        try:
            prepare(args.steps or None, progress=not args.quiet)
        except (DataError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif args.command == "run":
        params = {k: _parse_value(v) for k, v in args.parameter}
        out = run_notebook(args.notebook, params, args.output_dir, progress=not args.quiet)
        print(f"wrote {out.relative_to(config.PROJECT_ROOT) if out.is_relative_to(config.PROJECT_ROOT) else out}")
    elif args.command == "report":
        from .report import build_report

        index = build_report(args.output_dir)
        print(f"wrote {index}")
    elif args.command == "compare":
        from .report import build_comparison

        print(f"wrote {build_comparison(args.partners)}")
    elif args.command == "provenance":
        from .registry import provenance_table

        table = provenance_table().drop(columns=["parser"])
        table["sha256"] = table["sha256"].str[:12] + "…"
        print(table.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
