"""Synthesis: the attribution's arithmetic and the findings, on SYNTHETIC saved results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from korus_research import io, synthesis


def synthetic_results() -> dict[str, pd.DataFrame]:
    """SYNTHETIC results in the layout notebooks 01-05 save."""
    years = [2012, 2013, 2014, 2015, 2016]
    ed = pd.DataFrame([{"method": m, "year": y, "balance_effect": -2.0 * (m == "ols") - 1.0, "balance_effect_ci_low": -5.0,
                        "balance_effect_ci_high": 1.0, "imports_effect": 2.0, "imports_effect_ci_low": 0.0,
                        "imports_effect_ci_high": 4.0, "exports_effect": 0.5, "exports_effect_ci_low": -1.0,
                        "exports_effect_ci_high": 2.0} for m in ("ols", "ppml") for y in years])
    return {
        "balance_change": pd.DataFrame({"flow": ["exports_usd_bn", "imports_usd_bn", "balance_usd_bn"],
                                        "2011": [40.0, 50.0, -10.0], "2016": [41.0, 61.0, -20.0], "change": [1.0, 11.0, -10.0]}),
        "decomposition_contributions": pd.DataFrame({"group": ["autos (ch. 87)", "all other goods", "total"],
                                                     "balance_change": [-6e9, -4e9, -10e9],
                                                     "share_of_balance_change": [0.6, 0.4, 1.0]}),
        "effects_dollars": ed,
        "effects_did_dollars": pd.DataFrame({"flow": ["US exports", "US imports", "US exports", "US imports"],
                                             "group": ["autos (ch. 87)", "autos (ch. 87)", "total", "total"],
                                             "effect": [0.5, 2.5, 1.0, 4.0], "effect_se": [0.1, 0.2, 0.3, 0.4],
                                             "year": 2016}),
        "effects_synth_dollars": pd.DataFrame({"year": years, "balance_effect": [-4.0] * 5}),
        "effects_pretrend": pd.DataFrame({"model": ["imports, ols"], "p_value": [0.2]}),
        "gravity_pe": pd.DataFrame({"specification": ["G"], "year": [2016], "balance effect": [2.0],
                                    "balance effect ci_low": [0.0], "balance effect ci_high": [4.0],
                                    "exports effect": [1.0], "imports effect": [3.0]}),
        "macro_balance_parts": pd.DataFrame({"component": ["income (real demand)", "real exchange rate", "agreement indicator"],
                                             "balance": [-3000.0, -1000.0, -500.0], "balance ci_low": [-4000.0, -2000.0, -900.0],
                                             "balance ci_high": [-2000.0, 0.0, -100.0]}),
        "macro_coefficients": pd.DataFrame({"equation": ["US imports"], "level_1": ["ln_us_demand"], "estimate": [1.4]}),
        "macro_share": pd.DataFrame({"item": ["macro share", "ci_low", "ci_high"], "value": [0.4, 0.3, 0.5]}),
    }


def test_attribution_arithmetic_by_hand():
    r = synthetic_results()
    table, est = synthesis.attribution(r, 2011, 2016)
    # estimators: OLS -3, PPML -1, DiD 1-4=-3, synth -4, gravity +2, macro indicator -0.5 -> median -2
    assert sorted(est["estimate"].round(6)) == [-4.0, -3.0, -3.0, -1.0, -0.5, 2.0]
    assert table.loc["agreement (median of the estimators; interval = their range)", "usd_bn"] == pytest.approx(-2.0)
    assert table.loc["autos beyond the agreement", "usd_bn"] == pytest.approx(-6.0 - (0.5 - 2.5))
    parts = table.drop(index="total change in the US balance (Census)")["usd_bn"].sum()
    assert parts == pytest.approx(table.loc["total change in the US balance (Census)", "usd_bn"]) == pytest.approx(-10.0)
    with pytest.raises(ValueError, match="rerun notebook 01"):
        synthesis.attribution(r, 2010, 2016)


def test_findings_are_written_from_the_numbers():
    r = synthetic_results()
    table, est = synthesis.attribution(r, 2011, 2016)
    lit = synthesis.literature(r, io.read_table("benchmarks"), "XXX", 2016)
    assert set(lit["published"]) <= {"Income elasticity of US bilateral import demand"}  # nothing about XXX
    sentences = synthesis.findings(table, est, lit, r, "XXX", 2011, 2016,
                                   {"years": [2013, 2016], "growth": 0.2, "stalled": False})
    text = " ".join(sentences)
    assert "from -10.0 to -20.0" in text and "-10.0 bn" in text
    assert "60% of the change" in text and "40% of the change" in text
    assert "range from -4.0 to +2.0" in text and "5 of 6" in text
    assert "not jointly significant" in text and "did not stall" in text
    assert np.isfinite(table["usd_bn"]).all()
