"""Benchmark of the gravity estimator (``make bench``; not part of ``make test``).

Times, as medians of whole runs in fresh processes, with each run's peak memory:

1. the package's :func:`korus_research.gravity.ppml`, three-way fixed effects, on the full
   Deep Trade Agreements panel;
2. the same pyfixest call made directly (same formula, options and fixed-effect columns);
3. the dummy-variable GLM approach (statsmodels Poisson GLM with explicit fixed-effect
   dummies, as in USITC's GME package) on the subsample of flows among the 40 largest
   exporters in the last three waves (2008, 2012, 2016: the agreement's before and after),
   and the package on that subsample for the ratio. All 14 waves would make a dense
   design of about 22,000 x 2,700 that took over 20 GB here: the dummy approach does not
   scale, which is the point of the comparison.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

import pandas as pd

RUNS = 3


def _setup():
    from korus_research import gravity, io

    dta = io.read_table("gravity_dta")
    members, entry = gravity.members_of_agreement(dta, 211)
    spec = gravity.SPECIFICATIONS["dta"]
    data, terms = gravity.add_agreement_terms(dta, members, entry, "agreement", other=dta["agreement_id"],
                                              lags=spec.lags, lead=spec.lead)
    return data, terms


def _subsample(data: pd.DataFrame, n: int = 40, first_year: int = 2008) -> pd.DataFrame:
    top = data.groupby("exporter")["trade_usd"].sum().nlargest(n).index
    return data[data["exporter"].isin(top) & data["importer"].isin(top) & (data["year"] >= first_year)]


def task(name: str) -> float:
    """Run one task in this process and return its wall time (setup excluded)."""
    import numpy as np  # noqa: F401

    data, terms = _setup()
    if name in ("package_full", "package_sub"):
        from korus_research import gravity

        panel = data if name == "package_full" else _subsample(data)
        start = time.perf_counter()
        gravity.ppml(panel, "trade_usd", terms)
        return time.perf_counter() - start
    if name == "pyfixest_full":
        import pyfixest as pf

        from korus_research.gravity import SSC_CONVENTIONS

        start = time.perf_counter()
        # the same preparation and call as the package: fixed-effect ids, zero pairs out, fit
        panel = data.assign(exp_year=data["exporter"] + "_" + data["year"].astype(str),
                            imp_year=data["importer"] + "_" + data["year"].astype(str),
                            pair=data["exporter"] + "_" + data["importer"])
        panel = panel[panel.groupby("pair")["trade_usd"].transform("sum") > 0]
        pf.fepois(f"trade_usd ~ {' + '.join(terms)} | exp_year + imp_year + pair", data=panel,
                  vcov={"CRV1": "pair"}, ssc=pf.ssc(**SSC_CONVENTIONS["stata"]), iwls_maxiter=100, iwls_tol=1e-10,
                  fixef_tol=1e-10)
        return time.perf_counter() - start
    if name == "glm_dummies_sub":
        import statsmodels.api as sm
        import statsmodels.formula.api as smf

        panel = _subsample(data)
        panel = panel.assign(exp_year=panel["exporter"] + "_" + panel["year"].astype(str),
                             imp_year=panel["importer"] + "_" + panel["year"].astype(str),
                             pair=panel["exporter"] + "_" + panel["importer"])
        panel = panel[panel.groupby("pair")["trade_usd"].transform("sum") > 0]
        start = time.perf_counter()
        smf.glm(f"trade_usd ~ {' + '.join(terms)} + C(exp_year) + C(imp_year) + C(pair)", data=panel,
                family=sm.families.Poisson()).fit(maxiter=100)
        return time.perf_counter() - start
    raise SystemExit(f"unknown task {name}")


def _run(name: str) -> tuple[float, float]:
    """Run a task in a fresh process: (seconds, peak resident memory in MB)."""
    out = subprocess.run([sys.executable, "-m", "korus_research.bench", "--task", name],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["peak_mb"]


#: Runs of the dummy-variable GLM: one (about 5 minutes and 7 GB here), its cost being the finding.
GLM_RUNS = 1


def main(runs: int = RUNS) -> pd.DataFrame:
    rows = []
    for name, label in [("package_full", "package ppml, three-way, full DTA panel"),
                        ("pyfixest_full", "pyfixest fepois directly, same call"),
                        ("package_sub", "package ppml, 40 largest exporters, 2008-2016"),
                        ("glm_dummies_sub", "statsmodels GLM with dummies, same subsample")]:
        n = GLM_RUNS if name == "glm_dummies_sub" else runs
        times, mems = zip(*(_run(name) for _ in range(n)), strict=True)
        rows.append({"task": label, "median seconds": statistics.median(times),
                     "median peak MB": statistics.median(mems), "runs": n})
        print(f"{label}: {statistics.median(times):.2f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index("task")
    t = table["median seconds"]
    ratios = pd.Series({
        "package / direct pyfixest (full panel)": t.iloc[0] / t.iloc[1],
        "GLM dummies / package (subsample)": t.iloc[3] / t.iloc[2],
    }, name="ratio")
    print(table.round(2).to_string())
    print()
    print(ratios.round(2).to_string())
    return table


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--task":
        seconds = task(sys.argv[2])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "peak_mb": peak}))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS)
