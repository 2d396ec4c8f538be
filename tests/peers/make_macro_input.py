"""Write tests/data/macro_synthetic_input.csv: SYNTHETIC annual series (seeded) in the layout of
notebook 05's frame, the common input of the R peer script (macro_peer.R) and tests/test_macro.py.

US imports error-correct towards 1.4 ln(US demand) + 0.5 ln(rer) + 0.1 agreement (a J-curve in
the short run); US exports follow their own random walk with drift plus demand and exchange-rate
growth effects but no level relation. Prices are random walks with drift; nominal flows are real
flows times prices. Run: ``.venv/bin/python tests/peers/make_macro_input.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 13
OUT = Path(__file__).resolve().parents[1] / "data" / "macro_synthetic_input.csv"
LAGS = Path(__file__).resolve().parents[1] / "data" / "macro_adf_lags.csv"


def make(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    years = np.arange(1990, 2020)
    n = len(years)
    agreement = (years >= 2012).astype(float)
    ln_us = np.log(9000) + np.cumsum(rng.normal(0.025, 0.015, n))
    ln_partner = np.log(1.1e14) + np.cumsum(rng.normal(0.045, 0.02, n))
    ln_q = np.log(1000) + np.cumsum(rng.normal(0.0, 0.06, n))
    ln_m = np.zeros(n)
    ln_m[0] = 1.4 * ln_us[0] + 0.5 * ln_q[0] - 2.5
    for t in range(1, n):
        gap = ln_m[t - 1] - (1.4 * ln_us[t - 1] + 0.5 * ln_q[t - 1] + 0.1 * agreement[t - 1] - 2.5)
        ln_m[t] = (ln_m[t - 1] - 0.6 * gap + 1.4 * (ln_us[t] - ln_us[t - 1]) - 0.3 * (ln_q[t] - ln_q[t - 1])
                   + 0.1 * (agreement[t] - agreement[t - 1]) + rng.normal(0, 0.04))
    ln_x = np.zeros(n)
    ln_x[0] = np.log(22000)
    for t in range(1, n):
        ln_x[t] = (ln_x[t - 1] + 0.9 * (ln_partner[t] - ln_partner[t - 1]) - 0.8 * (ln_q[t] - ln_q[t - 1])
                   - 0.02 + rng.normal(0, 0.06))
    import_price = 80 * np.exp(np.cumsum(rng.normal(0.01, 0.02, n)))
    export_price = 75 * np.exp(np.cumsum(rng.normal(0.015, 0.02, n)))
    frame = pd.DataFrame({
        "year": years, "imports_real": np.exp(ln_m), "exports_real": np.exp(ln_x),
        "us_demand": np.exp(ln_us), "partner_demand": np.exp(ln_partner), "rer": np.exp(ln_q),
        "agreement": agreement, "imports_price": import_price, "exports_price": export_price,
    })
    frame["partner_supply"] = frame["partner_demand"]
    frame["imports_nominal"] = frame["imports_real"] * frame["imports_price"] / 100
    frame["exports_nominal"] = frame["exports_real"] * frame["exports_price"] / 100
    return frame


def adf_lags(frame: pd.DataFrame) -> pd.DataFrame:
    """The lag orders korus_research.macro chose (ADF by AIC, Zivot-Andrews, Engle-Granger by BIC):
    the R peer fixes the same orders so that both compute the same regressions."""
    from arch.unitroot.cointegration import engle_granger

    from korus_research import macro

    levels = macro.log_levels(frame.set_index("year"), "imports_real",
                              ["exports_real", "us_demand", "partner_demand", "rer"], 1990, 2019)
    table = macro.unit_root_table(levels, ["ln_imports_real", "ln_us_demand", "ln_rer"])
    rows = [{"series": s, "lags": int(r["ADF lags"]), "za_lags": int(r["ZA lags"]) if r.notna()["ZA lags"] else -1}
            for s, r in table.iterrows()]
    bw = macro.schwert_lags(len(levels))
    for tag, y, xs in (("imports", "ln_imports_real", ["ln_us_demand", "ln_rer"]),
                       ("exports", "ln_exports_real", ["ln_partner_demand", "ln_rer"])):
        eg = engle_granger(levels[y], levels[xs], trend="c", max_lags=bw, method="bic")
        rows.append({"series": f"EG {tag}", "lags": int(eg.lags), "za_lags": -1})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    frame = make()
    frame.to_csv(OUT, index=False, float_format="%.17g")
    adf_lags(frame).to_csv(LAGS, index=False)
    print(f"wrote {OUT} and {LAGS}")
