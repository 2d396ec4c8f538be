"""Scale benchmark of the product store (``make bench-store``; not part of ``make test``).

A product table of realistic size, about 50 million rows of HS10 lines x partner x month,
is generated for the benchmark only, by expanding the real HS2 panel's structure: each
chapter x partner x year x flow total of the processed ``comtrade_hs2`` table (imports and
exports, rounded to whole dollars) is split, with a seeded ``numpy.random.default_rng``,
across synthetic HS10 lines of that chapter and the 12 months, in whole dollars that add
up exactly to the real total. The lines are labelled ``SYNTHETIC-EXPANDED`` (their
``source``, and every line of the output), written under ``data/processed/bench/`` and
removed at the end; no notebook reads them (:func:`~korus_research.productstore.decomposition_inputs`
refuses them unless told otherwise).

Each step runs in a fresh process, which reports its own peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

1. ``generate``: the expansion, chunk by chunk (one flow x year at a time), written through
   :meth:`ProductStore.write` at HS10, plus a tenth-size expansion as one Parquet file for
   pandas;
2. ``duckdb``: through the store, the decomposition's inputs (Korea and the world by the
   study's named groups, :func:`~korus_research.productstore.decomposition_inputs`) and the
   HS2 panel of every partner, from the 50 million lines; the inputs are checked against
   those built from the processed table (they must agree to the dollar);
3. ``pandas``: the same two aggregations in pandas on the tenth-size table (about 5 million
   rows), read whole into memory as pandas does.

The table is printed and written to ``reports/bench_store.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .productstore import SYNTHETIC_EXPANDED

TARGET_ROWS = 50_000_000
SEED = 20120315  # KORUS entered into force on 15 March 2012
MEMORY_CAP_MB = 2048
MONTHS = 12
#: Synthetic HS10 lines per chapter: headings 01-40 x subheadings 10-99 (so 8703 and 8708 exist)
CATALOG_SIZE = 2000
PARTNER, WORLD = "KOR", "WLD"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# ---------------------------------------------------------------------------------------
# the expansion


def source_rows(comtrade: pd.DataFrame) -> pd.DataFrame:
    """The real HS2 x partner x year x flow totals expanded: imports and exports with a
    chapter, values rounded to whole dollars."""
    rows = comtrade[comtrade["flow"].isin(["import", "export"]) & comtrade["hs2"].notna()]
    out = rows[["flow", "year", "partner_key", "hs2", "basis", "value_usd"]].rename(columns={"partner_key": "partner"})
    out = out.assign(value=np.rint(out.pop("value_usd")).astype(np.int64))
    return out.sort_values(["flow", "year", "partner", "hs2"]).reset_index(drop=True)


def lines_per_row(values: np.ndarray, target_rows: int) -> np.ndarray:
    """HS10 lines for each chapter total: growing with its size (``a * value**(1/3)``, at
    least 1, at most :data:`CATALOG_SIZE`), ``a`` set so that lines x 12 months is about
    ``target_rows``."""
    base = np.cbrt(values.astype(float))

    def total(a: float) -> int:
        return int(np.clip(np.rint(a * base), 1, CATALOG_SIZE).sum()) * MONTHS

    low, high = 0.0, 1.0
    while total(high) < target_rows and high < 1e6:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if total(mid) < target_rows else (low, mid)
    return np.clip(np.rint(high * base), 1, CATALOG_SIZE).astype(np.int64)


def catalog(seed: int) -> dict[str, np.ndarray]:
    """Synthetic HS10 codes of each chapter (``CATALOG_SIZE`` distinct codes), seeded."""
    rng = np.random.default_rng(seed)
    j = np.arange(CATALOG_SIZE)
    heading = 1 + j % 40
    subheading = 10 + (j // 40) % 90
    out = {}
    for chapter in (f"{c:02d}" for c in range(1, 100)):
        stat = rng.integers(0, 10_000, CATALOG_SIZE)
        out[chapter] = np.array([f"{chapter}{h:02d}{s:02d}{t:04d}" for h, s, t in zip(heading, subheading, stat,
                                                                                          strict=True)], dtype=object)
    return out


def expand(rows: pd.DataFrame, n_lines: np.ndarray, codes: dict[str, np.ndarray],
           rng: np.random.Generator) -> pd.DataFrame:
    """Split each row's total across its synthetic HS10 lines and 12 months, in whole
    dollars that add up exactly to the total (integer shares of random weights, the
    remainder one dollar at a time)."""
    n_rows = len(rows)
    line_row = np.repeat(np.arange(n_rows), n_lines)
    line_start = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    line_pos = np.arange(len(line_row)) - line_start[line_row]
    offset = rng.integers(0, CATALOG_SIZE, n_rows)
    code_idx = (offset[line_row] + line_pos) % CATALOG_SIZE  # distinct within a row (n <= catalog)
    chapters = rows["hs2"].to_numpy()
    line_code = np.empty(len(line_row), dtype=object)
    for chapter in np.unique(chapters):
        sel = chapters[line_row] == chapter
        line_code[sel] = codes[chapter][code_idx[sel]]
    cell_line = np.repeat(np.arange(len(line_row)), MONTHS)
    cell_row = line_row[cell_line]
    weight = rng.integers(1, 1000, len(cell_line), dtype=np.int64)
    weight_sum = np.bincount(cell_row, weights=weight, minlength=n_rows).astype(np.int64)
    value = rows["value"].to_numpy()
    alloc = value[cell_row] * weight // weight_sum[cell_row]
    remainder = value - np.bincount(cell_row, weights=alloc, minlength=n_rows).astype(np.int64)
    cell_start = np.concatenate([[0], np.cumsum(n_lines * MONTHS)[:-1]])
    alloc += (np.arange(len(cell_row)) - cell_start[cell_row]) < remainder[cell_row]
    return pd.DataFrame({
        "flow": rows["flow"].to_numpy()[cell_row],
        "year": rows["year"].to_numpy()[cell_row],
        "month": np.tile(np.arange(1, MONTHS + 1, dtype=np.int8), len(line_row)),
        "partner": rows["partner"].to_numpy()[cell_row],
        "code": line_code[cell_line],
        "value_usd": alloc.astype(float),
        "basis": rows["basis"].to_numpy()[cell_row],
        "source": SYNTHETIC_EXPANDED,
    })


def chunks(rows: pd.DataFrame, n_lines: np.ndarray, seed: int, max_rows: int = 1_000_000) -> Iterator[pd.DataFrame]:
    """The expansion, one flow x year at a time (cut at ``max_rows`` lines): memory stays
    that of one chunk, whatever the table's size."""
    rng = np.random.default_rng(seed)
    codes = catalog(seed)
    cells = n_lines * MONTHS
    for _, index in rows.groupby(["flow", "year"], sort=True).indices.items():
        start = 0
        while start < len(index):
            stop = start + 1
            size = cells[index[start]]
            while stop < len(index) and size + cells[index[stop]] <= max_rows:
                size += cells[index[stop]]
                stop += 1
            part = index[start:stop]
            yield expand(rows.iloc[part], n_lines[part], codes, rng)
            start = stop


# ---------------------------------------------------------------------------------------
# the steps (each in its own process)


def task_generate(work: Path, target_rows: int, seed: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from . import io
    from .productstore import ProductStore, _release_memory

    rows = source_rows(io.read_table("comtrade_hs2"))
    _release_memory()  # the processed table is read, and dropped
    store = ProductStore(work / "products")
    start = time.perf_counter()
    n_lines = lines_per_row(rows["value"].to_numpy(), target_rows)
    written = store.write(chunks(rows, n_lines, seed), level="HS10", mode="replace")
    seconds = time.perf_counter() - start
    store.close()
    # the pandas comparison's table: a tenth-size expansion of the same panel, one file
    tenth_lines = lines_per_row(rows["value"].to_numpy(), target_rows // 10)
    tenth_rows, writer = 0, None
    for frame in chunks(rows, tenth_lines, seed + 1):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(work / "pandas_tenth.parquet", table.schema, compression="zstd")
        writer.write_table(table)
        tenth_rows += len(frame)
        del frame, table
        _release_memory()
    writer.close()
    size = sum(p.stat().st_size for p in (work / "products").rglob("*.parquet"))
    return {"task": "generate", "engine": "numpy + ProductStore.write", "rows": int(written["rows"].sum()),
            "partitions": len(written), "source_rows": len(rows), "tenth_rows": tenth_rows,
            "seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "store_mb": size / 2**20}


def _reference_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The decomposition's inputs from the processed table (values in whole dollars, as expanded)."""
    from . import io
    from .decomposition import comtrade_panel

    comtrade = io.read_table("comtrade_hs2")
    comtrade = comtrade.assign(value_usd=np.rint(comtrade["value_usd"]))
    return comtrade_panel(comtrade, PARTNER), comtrade_panel(comtrade, WORLD)


def _difference(got: tuple, expected: tuple) -> float:
    worst = 0.0
    for a, b in zip(got, expected, strict=True):
        a = a.set_index(["group", "year"]).sort_index()
        b = b.set_index(["group", "year"]).sort_index()
        if not a.index.equals(b.index):
            return float("inf")
        worst = max(worst, float((a[["exports", "imports"]] - b[["exports", "imports"]]).abs().to_numpy().max()))
    return worst


def task_duckdb(work: Path) -> list[dict]:
    from .productstore import ProductStore, decomposition_inputs

    store = ProductStore(work / "products")
    rows = int(store.inventory()["rows"].sum())
    start = time.perf_counter()
    inputs = decomposition_inputs(store, PARTNER, "named", allow_synthetic=True)
    first = time.perf_counter() - start
    rss_first = _peak_rss_mb()
    start = time.perf_counter()
    hs2 = store.aggregate("HS2")
    second = time.perf_counter() - start
    settings = store.settings()
    store.close()
    difference = _difference(inputs, _reference_inputs())
    common = {"engine": f"DuckDB via ProductStore (memory_limit {settings['memory_limit']}, "
                        f"threads {settings['threads']})", "rows": rows}
    return [{"task": "decomposition inputs (KOR + WLD, named groups)", **common, "seconds": first,
             "peak_rss_mb": rss_first, "result_rows": len(inputs[0]) + len(inputs[1]),
             "max_abs_difference_vs_processed_usd": difference},
            {"task": "HS2 panel, every partner", **common, "seconds": second, "peak_rss_mb": _peak_rss_mb(),
             "result_rows": len(hs2)}]


def task_pandas(work: Path) -> list[dict]:
    from .decomposition import comtrade_panel

    start = time.perf_counter()
    lines = pd.read_parquet(work / "pandas_tenth.parquet", columns=["flow", "year", "partner", "code", "value_usd"])
    read = time.perf_counter() - start
    start = time.perf_counter()
    sub = lines[lines["partner"].isin([PARTNER, WORLD])]
    hs2 = (sub.assign(hs2=sub["code"].str[:2]).groupby(["flow", "year", "partner", "hs2"], as_index=False)
           ["value_usd"].sum().rename(columns={"partner": "partner_key"}))
    inputs = comtrade_panel(hs2, PARTNER), comtrade_panel(hs2, WORLD)
    first = time.perf_counter() - start
    rss_first = _peak_rss_mb()
    start = time.perf_counter()
    panel = lines.groupby([lines["flow"], lines["year"], lines["partner"], lines["code"].str[:2]])["value_usd"].sum()
    second = time.perf_counter() - start
    difference = _difference(inputs, _reference_inputs())
    common = {"engine": "pandas (table read whole)", "rows": len(lines), "read_seconds": read}
    return [{"task": "decomposition inputs (KOR + WLD, named groups)", **common, "seconds": read + first,
             "compute_seconds": first, "peak_rss_mb": rss_first, "result_rows": len(inputs[0]) + len(inputs[1]),
             "max_abs_difference_vs_processed_usd": difference},
            {"task": "HS2 panel, every partner", **common, "seconds": read + second, "compute_seconds": second,
             "peak_rss_mb": _peak_rss_mb(), "result_rows": len(panel)}]


TASKS = {"generate": task_generate, "duckdb": task_duckdb, "pandas": task_pandas}


def _child(task: str, work: Path, rows: int, seed: int) -> list[dict]:
    cmd = [sys.executable, "-m", "korus_research.bench_store", "--task", task, "--work", str(work),
           "--rows", str(rows), "--seed", str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench_store task {task} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out if isinstance(out, list) else [out]


def run(rows: int = TARGET_ROWS, seed: int = SEED, keep: bool = False, output: Path | None = None) -> dict:
    """Run the three steps in fresh processes, print the table and write the JSON report."""
    from . import config
    from .productstore import remove_store

    bench_root = config.data_processed() / "bench"
    work = bench_root / f"store-{SYNTHETIC_EXPANDED.lower()}-{rows}"
    remove_store(work)
    work.mkdir(parents=True)
    try:
        records = []
        for task in ("generate", "duckdb", "pandas"):
            print(f"[{SYNTHETIC_EXPANDED}] running {task} ...", flush=True)
            records += _child(task, work, rows, seed)
    finally:
        if not keep:
            remove_store(work)
            try:
                bench_root.rmdir()
            except OSError:
                pass
    duck = [r for r in records if r["engine"].startswith("DuckDB")]
    generate = records[0]
    peak_store = max([generate["peak_rss_mb"]] + [r["peak_rss_mb"] for r in duck])
    report = {
        "label": SYNTHETIC_EXPANDED,
        "what": ("product table generated for the benchmark only by expanding the real HS2 panel "
                 "(comtrade_hs2: chapter x partner x year x flow totals) across synthetic HS10 lines and "
                 "months with a seeded rng; never study data"),
        "seed": seed, "target_rows": rows, "memory_cap_mb": MEMORY_CAP_MB,
        "peak_rss_mb_store": peak_store, "under_cap": bool(peak_store < MEMORY_CAP_MB),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": list(os.getloadavg())},
        "steps": records,
    }
    _print(report)
    output = output or config.reports_dir() / "bench_store.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {output}")
    if not report["under_cap"]:
        raise SystemExit(f"peak memory {peak_store:.0f} MB is above {MEMORY_CAP_MB} MB")
    return report


def _print(report: dict) -> None:
    from tabulate import tabulate

    table = [{"step": r["task"], "engine": r["engine"].split(" (")[0], "rows": f"{r['rows']:,}",
              "seconds": round(r["seconds"], 1), "M rows/s": round(r["rows"] / r["seconds"] / 1e6, 1),
              "peak RSS (MB)": round(r["peak_rss_mb"])}
             for r in report["steps"]]
    print(f"\n{SYNTHETIC_EXPANDED} product table (benchmark only), seed {report['seed']}")
    print(tabulate(table, headers="keys", tablefmt="github"))
    checks = [r for r in report["steps"] if "max_abs_difference_vs_processed_usd" in r]
    for r in checks:
        print(f"{r['engine'].split(' (')[0]}: decomposition inputs vs the processed table, largest difference "
              f"${r['max_abs_difference_vs_processed_usd']:.2f}")
    print(f"peak RSS of the store's steps: {report['peak_rss_mb_store']:.0f} MB "
          f"({'under' if report['under_cap'] else 'OVER'} the {report['memory_cap_mb']} MB cap)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m korus_research.bench_store", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=TARGET_ROWS, help="lines of the generated table (about)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep", action="store_true", help="keep the generated store (data/processed/bench/)")
    parser.add_argument("--output", type=Path, default=None, help="JSON report (default reports/bench_store.json)")
    parser.add_argument("--task", choices=sorted(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task:
        result = (TASKS[args.task](args.work, args.rows, args.seed) if args.task == "generate"
                  else TASKS[args.task](args.work))
        print(json.dumps(result))
        return
    run(args.rows, args.seed, args.keep, args.output)


if __name__ == "__main__":
    main()
