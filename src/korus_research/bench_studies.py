"""Benchmark of the study runner (``make bench-studies``; not part of ``make test``).

The same studies run twice from scratch, each time into fresh results and report folders that
read the real processed tables (through symbolic links): first serially in this process
(``scheduler="serial"``: each notebook in turn), then on a ``distributed.LocalCluster`` of 2
single-threaded workers. Reported in ``reports/bench_studies.json``: wall times, the speed-up,
per worker the tasks it ran, their seconds and its peak memory, both of the worker process
itself (the worker's own ``SystemMonitor`` samples, every 0.5 s) and of the notebooks it ran
(each notebook's process tree, kernel included, sampled every 0.5 s by the task), and whether
the two runs stored identical estimate tables.

Usage: ``python -m korus_research.bench_studies [--partners KOR COL PAN] [--notebooks 01,02]
[--workers 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from . import config

PARTNERS = ("KOR", "COL", "PAN")


def _scratch(root: Path, name: str) -> tuple[Path, Path]:
    """A processed folder that links the real tables (results go into it) and a reports folder."""
    processed = root / name / "processed"
    processed.mkdir(parents=True)
    for table in config.data_processed().glob("*.parquet"):
        (processed / table.name).symlink_to(table.resolve())
    return processed, root / name / "reports"


def _run(partners, notebooks, scheduler, processed: Path, reports: Path) -> tuple[pd.DataFrame, float]:
    from .runner import run_studies

    os.environ["KORUS_DATA_PROCESSED"], os.environ["KORUS_REPORTS"] = str(processed), str(reports)
    start = time.perf_counter()
    summary = run_studies(list(partners), "none", scheduler=scheduler, notebooks=notebooks, progress=True,
                          report=False)
    return summary, time.perf_counter() - start


def _estimates(processed: Path, study_id: str) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted((processed / "results" / study_id).glob("estimates_*.parquet"))]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _worker_peak(dask_worker) -> float:
    """Peak memory (MB) of this worker's own process over its monitor's history."""
    memory = dask_worker.monitor.quantities["memory"]
    return max(memory) / 2**20 if memory else 0.0


def main(partners=PARTNERS, notebooks=None, workers: int = 2, out: Path | None = None) -> dict:
    from distributed import Client

    from .runner import _machine, local_cluster

    out = Path(out or config.reports_dir() / "bench_studies.json")
    saved = {k: os.environ.get(k) for k in ("KORUS_DATA_PROCESSED", "KORUS_REPORTS")}
    cores, memory = _machine()
    result: dict = {"partners": list(partners), "notebooks": notebooks or "all (01-05, 07, then 06)",
                    "machine": {"cores": cores, "memory_gb": round(memory / 2**30, 1),
                                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                                "python": platform.python_version()},
                    "versions": {p: metadata.version(p) for p in ("dask", "distributed", "papermill")}}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-studies-") as tmp:
            root = Path(tmp)
            serial_processed, serial_reports = _scratch(root, "serial")
            serial, serial_seconds = _run(partners, notebooks, "serial", serial_processed, serial_reports)
            cluster_processed, cluster_reports = _scratch(root, "cluster")
            start = time.perf_counter()
            cluster = local_cluster(workers)
            client = Client(cluster)
            startup = time.perf_counter() - start
            try:
                parallel, parallel_seconds = _run(partners, notebooks, client, cluster_processed, cluster_reports)
                worker_peaks = client.run(_worker_peak)
            finally:
                client.close()
                cluster.close()
            tasks = pd.DataFrame(parallel.attrs["tasks"])
            per_worker = {}
            for address, peak in sorted(worker_peaks.items()):
                mine = tasks[tasks["worker"] == address] if len(tasks) else tasks
                per_worker[address] = {
                    "tasks": int(len(mine)), "task_seconds": round(float(mine["seconds"].sum()), 1) if len(mine) else 0,
                    "worker_process_peak_mb": round(peak, 1),
                    "notebook_peak_mb": round(float(mine["peak_mb"].max()), 1) if len(mine) else 0.0,
                    "notebooks": sorted(f"{r.study_id}/{r.notebook}" for r in mine.itertuples())}
            serial_tasks = pd.DataFrame(serial.attrs["tasks"])
            identical = {}
            for sid in serial.loc[serial["status"] == "done", "study"]:
                a, b = _estimates(serial_processed, sid), _estimates(cluster_processed, sid)
                try:
                    pd.testing.assert_frame_equal(a, b)
                    identical[sid] = True
                except AssertionError:
                    identical[sid] = False
            result.update({
                "serial": {"wall_seconds": round(serial_seconds, 1),
                           "notebook_peak_mb": round(float(serial_tasks["peak_mb"].max()), 1)
                           if len(serial_tasks) else 0.0,
                           "status": dict(zip(serial["study"], serial["status"], strict=True))},
                "cluster": {"workers": workers, "threads_per_worker": 1, "startup_seconds": round(startup, 1),
                            "wall_seconds": round(parallel_seconds, 1),
                            "status": dict(zip(parallel["study"], parallel["status"], strict=True)),
                            "per_worker": per_worker},
                "speed_up": round(serial_seconds / parallel_seconds, 2) if parallel_seconds else None,
                "speed_up_with_startup": round(serial_seconds / (parallel_seconds + startup), 2),
                "task_seconds": {"serial": round(float(serial_tasks["seconds"].sum()), 1) if len(serial_tasks) else 0,
                                 "cluster": round(float(tasks["seconds"].sum()), 1) if len(tasks) else 0},
                "identical_estimates": identical,
                "measured": time.strftime("%Y-%m-%d %H:%M:%S")})
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m korus_research.bench_studies", description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", nargs="+", default=list(PARTNERS))
    parser.add_argument("--notebooks", default=None, help="e.g. 01,02 (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    main(args.partners, args.notebooks, args.workers, args.out)
