"""Synthesis: the attribution's arithmetic and the findings, on a SYNTHETIC estimate table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from korus_research import io, results, synthesis
from korus_research.errors import ResultsError
from korus_research.study import Study

KOR = Study.build("KOR")
COL = Study.build("COL")


def synthetic_estimates(study: Study = KOR, partner_demand: bool = True) -> pd.DataFrame:
    """SYNTHETIC rows in the layout notebooks 01-05 write to the estimate table."""
    span = f"{study.base_year}->{study.compare_year}"
    c = str(study.compare_year)
    rows = {
        "01": [dict(quantity="balance", estimator="Census", period=str(study.base_year), unit="US$ bn", value=-10.0),
               dict(quantity="balance", estimator="Census", period=c, unit="US$ bn", value=-20.0),
               dict(quantity="balance change", estimator="Census", period=span, unit="US$ bn", value=-10.0)],
        "02": [dict(quantity="autos contribution to the balance change", estimator="decomposition (autos (ch. 87))",
                    period=span, unit="US$ bn", value=-6.0),
               dict(quantity="autos share of the balance change", estimator="decomposition (autos (ch. 87))",
                    period=span, unit="share", value=0.6)],
        "03": [dict(quantity="agreement effect on the balance", estimator="event study (OLS)", period=c, unit="US$ bn",
                    value=-3.0, low=-5.0, high=1.0, diagnostics="failed", diagnostics_detail="pre-trend p: 0.01"),
               dict(quantity="agreement effect on the balance", estimator="event study (PPML)", period=c, unit="US$ bn",
                    value=-1.0, low=-5.0, high=1.0, diagnostics="passed"),
               dict(quantity="agreement effect on the balance", estimator="product difference-in-differences (PPML)",
                    period=c, unit="US$ bn", value=-3.0, low=-4.0, high=-2.0),
               dict(quantity="agreement effect on the autos balance", estimator="product difference-in-differences (PPML)",
                    period=c, unit="US$ bn", value=-2.0, low=-2.5, high=-1.5, diagnostics="passed"),
               dict(quantity="agreement effect on the balance", estimator="synthetic control (shares)", period=c,
                    unit="US$ bn", value=-4.0, diagnostics="failed"),
               dict(quantity="agreement effect on the balance", estimator="event study (OLS)", period="2015",
                    unit="US$ bn", value=-2.5, low=-6.0, high=1.0),
               dict(quantity="pre-trend p-value", estimator="event study (OLS), imports", unit="p-value", value=0.2)],
        "04": [dict(quantity="agreement effect on the balance", estimator="gravity PPML: G", period=c, unit="US$ bn",
                    value=2.0, low=0.0, high=4.0)],
        "05": [dict(quantity="balance change due to income", estimator="trade equations (levels)", period=span,
                    unit="US$ bn", value=-3.0, low=-4.0, high=-2.0),
               dict(quantity="balance change due to the real exchange rate", estimator="trade equations (levels)",
                    period=span, unit="US$ bn", value=-1.0, low=-2.0, high=0.0),
               dict(quantity="agreement effect on the balance change", estimator="trade equations (levels)", period=span,
                    unit="US$ bn", value=-0.5, low=-0.9, high=-0.1),
               dict(quantity="income elasticity of US imports", estimator="trade equation in levels (Newey-West)",
                    unit="elasticity", value=1.4),
               dict(quantity="macro share of the balance change" if partner_demand
                    else "macro share of the import side of the balance change",
                    estimator="trade equations (levels)", period=span, unit="share", value=0.4, low=0.3, high=0.5)],
    }
    return pd.concat([results.estimate_rows(r, nb, study.study_id) for nb, r in rows.items()], ignore_index=True)


def test_attribution_arithmetic_by_hand():
    table, est = synthesis.attribution(synthetic_estimates(), KOR)
    # estimators: OLS -3, PPML -1, DiD -3, synth -4, gravity +2, macro indicator -0.5
    assert sorted(est["estimate"].round(6)) == [-4.0, -3.0, -3.0, -1.0, -0.5, 2.0]
    # the only estimate that passes its diagnostics with a 95% interval: the PPML event study
    row = table.loc[synthesis.AGREEMENT_ROW]
    assert row["usd_bn"] == pytest.approx(-1.0)
    assert (row["interval"], row["low"], row["high"]) == ("95% CI", -5.0, 1.0)
    assert table.attrs["agreement"]["estimator"] == "event study (PPML)"
    assert table.loc["macro: demand", "interval"] == "95% CI"
    autos = table.loc["autos beyond the agreement"]
    assert autos["usd_bn"] == pytest.approx(-6.0 - (-2.0))
    assert (autos["low"], autos["high"]) == (pytest.approx(-6.0 + 1.5), pytest.approx(-6.0 + 2.5))
    parts = table.drop(index=synthesis.TOTAL)["usd_bn"].sum()
    assert parts == pytest.approx(table.loc[synthesis.TOTAL, "usd_bn"]) == pytest.approx(-10.0)
    assert table.loc[synthesis.RESIDUAL, "usd_bn"] == pytest.approx(-10.0 - (-3.0 - 1.0 - 1.0 - 4.0))
    assert table.loc[synthesis.RESIDUAL, "interval"] == "none"


def _with(rows: list[dict], study: Study = KOR) -> pd.DataFrame:
    extra = results.estimate_rows(rows, "03", study.study_id)
    return pd.concat([synthetic_estimates(study), extra], ignore_index=True)


def test_the_headline_is_the_best_design_that_passes():
    c = str(KOR.compare_year)
    est = _with([
        # the best-ranked design fails its check: set aside
        dict(quantity="agreement effect on the balance", estimator="synthetic DiD (log flows)", period=c,
             unit="US$ bn", value=-9.0, low=-12.0, high=-6.0, diagnostics="failed", diagnostics_detail="placebo p 0.01"),
        # the second passes, but without a 95% interval: set aside
        dict(quantity="agreement effect on the balance", estimator="staggered DiD (Callaway-Sant'Anna), partner",
             period=c, unit="US$ bn", value=-7.0, diagnostics="passed"),
        # the third (directional gravity) passes with an interval: chosen over the PPML event study
        dict(quantity="agreement effect on the balance (directional terms)", estimator="gravity PPML: DTA, directional",
             period=c, unit="US$ bn", value=1.5, low=-0.5, high=3.5, diagnostics="passed"),
    ])
    table, agreement = synthesis.attribution(est, KOR)
    chosen = table.attrs["agreement"]
    assert (chosen["estimator"], chosen["design"]) == ("gravity PPML: DTA, directional",
                                                       "gravity with directional agreement terms")
    assert (chosen["estimate"], chosen["ci_low"], chosen["ci_high"]) == (1.5, -0.5, 3.5)
    assert "synthetic DiD (log flows) (failed: placebo p 0.01)" in chosen["reason"]
    assert "passed, but no 95% interval" in chosen["reason"]
    assert table.loc[synthesis.AGREEMENT_ROW, "usd_bn"] == 1.5
    # ranks follow DESIGNS; the one-term gravity row is a lower-ranked design than the directional one
    ranks = agreement.set_index("estimator")["rank"]
    assert ranks["synthetic DiD (log flows)"] == 0 < ranks["gravity PPML: DTA, directional"] < ranks["gravity PPML: G"]


def test_no_headline_when_no_design_passes():
    est = synthetic_estimates()
    est.loc[est["diagnostics"] == "passed", "diagnostics"] = "failed"
    table, agreement = synthesis.attribution(est, KOR)
    assert synthesis.AGREEMENT_ROW not in table.index
    assert table.attrs["agreement"]["design"] is None and "no design passes" in table.attrs["agreement"]["reason"]
    # the agreement's part stays in the residual; the parts still add up
    assert table.drop(index=synthesis.TOTAL)["usd_bn"].sum() == pytest.approx(-10.0)
    text = " ".join(synthesis.findings(table, agreement, synthesis.literature(est, io.read_table("benchmarks"), KOR),
                                       est, KOR))
    assert "states no headline effect" in text and "stays in the residual" in text


def test_robustness_table_names_every_interval_and_check():
    table, agreement = synthesis.attribution(synthetic_estimates(), KOR)
    curve = synthesis.robustness(agreement, table.attrs["agreement"])
    assert list(curve["estimate"]) == sorted(curve["estimate"])
    assert curve["headline"].sum() == 1 and curve.loc[curve["headline"], "estimator"].item() == "event study (PPML)"
    assert set(curve["interval"]) <= {"95% CI", "range across estimators", "none"}
    assert (curve["check"] != "").all()
    by = curve.set_index("estimator")
    assert by.loc["product difference-in-differences (PPML)", "excludes zero"] == "yes"
    assert by.loc["synthetic control (shares)", "excludes zero"] == "no interval"
    assert by.loc["gravity PPML: G", "excludes zero"] == "no"


def test_design_of_uses_the_quantity_and_the_longest_prefix():
    assert synthesis.design_of("gravity PPML: X")[1].name == "gravity with one agreement term"
    assert synthesis.design_of("gravity PPML: X", synthesis.DIRECTIONAL)[1].name == "gravity with directional agreement terms"
    assert synthesis.design_of("staggered DiD (Callaway-Sant'Anna), pooled effect")[0] == 3
    assert synthesis.design_of("something else") == (None, None)


def test_autos_beyond_the_agreement_follows_the_same_rule():
    c = str(KOR.compare_year)
    est = _with([dict(quantity="agreement effect on the autos balance",
                      estimator="staggered DiD (Callaway-Sant'Anna), partner alone, Comtrade HS 87", period=c,
                      unit="US$ bn", value=-1.0, low=-3.0, high=1.0, diagnostics="passed")])
    table, _ = synthesis.attribution(est, KOR)
    # the staggered design outranks the product DiD
    assert table.attrs["autos agreement"]["estimator"].startswith("staggered DiD")
    row = table.loc["autos beyond the agreement"]
    assert (row["usd_bn"], row["low"], row["high"]) == (pytest.approx(-5.0), pytest.approx(-7.0), pytest.approx(-3.0))
    # when no autos design passes, the autos contribution is shown whole, its agreement part not separated
    est.loc[est["quantity"] == "agreement effect on the autos balance", "diagnostics"] = "failed"
    table, _ = synthesis.attribution(est, KOR)
    assert "autos beyond the agreement" not in table.index
    assert table.loc["autos (agreement's part not separated)", "usd_bn"] == -6.0
    assert table.drop(index=synthesis.TOTAL)["usd_bn"].sum() == pytest.approx(-10.0)


def test_attribution_needs_the_studys_total():
    other = Study.build("KOR", base_year=2013)
    with pytest.raises(ResultsError, match="run notebook 01"):
        synthesis.attribution(synthetic_estimates(), other)


def test_attribution_rows_fit_the_estimate_contract():
    table, _ = synthesis.attribution(synthetic_estimates(), KOR)
    rows = results.estimate_rows(synthesis.attribution_rows(table, KOR), "06", KOR.study_id)
    assert len(rows) == len(table)
    assert set(rows["interval"]) == {"95% CI", "none"}


def test_findings_are_written_from_the_numbers():
    est = synthetic_estimates()
    table, agreement = synthesis.attribution(est, KOR)
    lit = synthesis.literature(est, io.read_table("benchmarks"), KOR)
    sentences = synthesis.findings(table, agreement, lit, est, KOR, {"years": [2013, 2016], "growth": 0.2, "stalled": False})
    text = " ".join(sentences)
    assert "from -10.0 to -20.0" in text and "-10.0 bn" in text
    assert "60% of the change" in text and "US and KOR demand and the real exchange rate account for 40%" in text
    assert "effect of the agreement on the 2016 US balance is -1.0 bn (95% CI -5.0 to +1.0; the interval includes zero)" in text
    assert "from the event study against control partners (event study (PPML), notebook 03)" in text
    assert "Of the 6 estimates, 1 pass their diagnostics, 2 fail them and 3 are not tested" in text
    # the 2015 event-study row is not a 2016 estimate; of the five 2016 intervals, DiD and the trade equations exclude zero
    assert "5 carry a 95% interval, 2 of which exclude zero" in text
    assert "point estimates" not in text
    assert "not jointly significant" in text and "did not stall" in text
    assert np.isfinite(table["usd_bn"]).all()


def test_no_partner_demand_sentence_without_a_demand_series():
    est = synthetic_estimates(COL, partner_demand=False)
    table, agreement = synthesis.attribution(est, COL)
    lit = synthesis.literature(est, io.read_table("benchmarks"), COL)
    text = " ".join(synthesis.findings(table, agreement, lit, est, COL))
    assert "COL demand" not in text
    assert "US demand and the real exchange rate account for 40% of the import side" in text
    assert "no demand series for COL" in text
    # nothing published about Colombia but the many-partner income elasticity
    assert set(lit["published"]) <= {"Income elasticity of US bilateral import demand"}


def test_literature_uses_the_compare_year_estimates_only_for_2015_figures():
    est = synthetic_estimates()
    lit = synthesis.literature(est, io.read_table("benchmarks"), KOR).set_index("published")
    usitc = lit.loc[[p for p in lit.index if p.startswith("Improvement of the US bilateral")]]
    # only the one 2015 row counts, not the 2011->2016 trade-equation indicator
    assert float(usitc["ours"].iloc[0]) == pytest.approx(-2.5)


def test_synthesis_refuses_another_studys_results(tmp_path):
    folder = tmp_path / "store"
    store = results.open_store(KOR, "01", folder=folder)
    store.add_estimates([dict(quantity="balance change", estimator="Census", period="2011->2016", unit="US$ bn",
                              value=-14.4)])
    other = Study.build("KOR", base_year=2013)
    with pytest.raises(ResultsError, match=f"{KOR.study_id}.*{other.study_id}|{other.study_id}.*{KOR.study_id}"):
        results.read_store(other, folder=folder).estimates(required=("01",))


def test_a_share_of_a_tiny_change_is_not_quoted():
    est = synthetic_estimates()
    est.loc[est["quantity"] == "macro share of the balance change", ["value", "low", "high"]] = [-11.0, -12.8, -9.3]
    table, agreement = synthesis.attribution(est, KOR)
    text = " ".join(synthesis.findings(table, agreement, synthesis.literature(est, io.read_table("benchmarks"), KOR),
                                       est, KOR))
    assert "-1100%" not in text and "too small beside its parts" in text


def test_structural_account_reads_notebook_07_in_order():
    rows = [dict(quantity="structural: change in the balance", estimator="structural gravity GE", period="2010-2014",
                 unit="US$ bn", value=-18.0),
            dict(quantity="structural change: incomes", estimator="structural gravity GE", period="2010-2014",
                 unit="US$ bn", value=-3.0, low=-3.5, high=-2.5, diagnostics="passed"),
            dict(quantity="structural: agreement removed (GE)", estimator="structural gravity GE", period="2014",
                 unit="US$ bn", value=-2.0, low=-9.0, high=4.0, diagnostics="failed")]
    est = pd.concat([synthetic_estimates(), results.estimate_rows(rows, "07", KOR.study_id)], ignore_index=True)
    change, counterfactuals = synthesis.structural_account(est)
    assert list(change["quantity"]) == ["structural change: incomes", "structural: change in the balance"]
    assert counterfactuals.loc[0, ["usd_bn", "low", "high", "diagnostics"]].tolist() == [-2.0, -9.0, 4.0, "failed"]
    empty_change, empty_cf = synthesis.structural_account(synthetic_estimates())
    assert empty_change.empty and empty_cf.empty


def _structural_rows(study: Study = KOR) -> pd.DataFrame:
    """SYNTHETIC rows in the layout notebook 07 writes (WIOD years 2010 and 2014)."""
    ge = "structural gravity GE"
    span = "2010-2014"
    rows = [dict(quantity="structural change: incomes", estimator=ge, period=span, unit="US$ bn", value=-3.0,
                 low=-3.5, high=-2.5, diagnostics="passed"),
            dict(quantity="structural change: aggregate imbalances", estimator=ge, period=span, unit="US$ bn",
                 value=-0.5, low=-0.6, high=-0.4, diagnostics="passed"),
            dict(quantity="structural change: the agreement", estimator=ge, period=span, unit="US$ bn", value=-2.0,
                 low=-6.0, high=1.0, diagnostics="failed"),
            dict(quantity="structural change: the pair's other trade costs", estimator=ge, period=span,
                 unit="US$ bn", value=-7.0, low=-9.0, high=-5.0, diagnostics="passed"),
            dict(quantity="structural change: the rest of the world's trade costs", estimator=ge, period=span,
                 unit="US$ bn", value=0.5, low=-1.0, high=2.0, diagnostics="passed"),
            dict(quantity="structural: change in the balance", estimator=ge, period=span, unit="US$ bn", value=-12.0),
            dict(quantity="structural: balance, WIOD (goods and services)", estimator=ge, period="2014",
                 unit="US$ bn", value=-30.0),
            dict(quantity="structural: aggregate imbalances closed (GE)", estimator=ge, period="2014", unit="US$ bn",
                 value=-20.0, interval="range across estimators", low=-21.0, high=-19.0, diagnostics="passed"),
            dict(quantity="structural: the two countries' imbalances closed (GE)", estimator=ge, period="2014",
                 unit="US$ bn", value=-8.0, interval="range across estimators", low=-9.0, high=-7.0,
                 diagnostics="passed"),
            dict(quantity="structural: WIOD balance minus the Census goods balance", estimator="WIOD minus Census",
                 period="2010", unit="US$ bn", value=-4.0),
            dict(quantity="structural: WIOD balance minus the Census goods balance", estimator="WIOD minus Census",
                 period="2014", unit="US$ bn", value=-6.0)]
    return pd.concat([synthetic_estimates(study), results.estimate_rows(rows, "07", study.study_id)],
                     ignore_index=True)


def test_the_attribution_on_the_structural_account_by_hand():
    est = _structural_rows()
    table, bridge = synthesis.structural_attribution(est, KOR)
    # GE macro parts, the headline (the PPML event study, -1), autos beyond the agreement (-6 - (-2)), what is left
    assert table.loc[synthesis.GE_IMBALANCES, ["usd_bn", "low", "high"]].tolist() == [-0.5, -0.6, -0.4]
    assert table.loc[synthesis.GE_INCOMES, "usd_bn"] == -3.0
    assert table.loc[synthesis.GE_HEADLINE, "usd_bn"] == pytest.approx(-1.0)
    assert table.loc[synthesis.GE_HEADLINE, "basis"].startswith("event study")
    assert table.loc[synthesis.AUTOS_COMPOSITION, "usd_bn"] == pytest.approx(-4.0)
    # the GE counterpart is shown, not counted; the counted rows add up to the total (-10)
    assert not table.loc[synthesis.GE_AGREEMENT, "counted"] and table.loc[synthesis.GE_AGREEMENT, "usd_bn"] == -2.0
    assert table.loc[synthesis.LEFT, "usd_bn"] == pytest.approx(-10.0 - (-0.5 - 3.0 - 1.0 - 4.0))
    assert table.loc[table["counted"], "usd_bn"].sum() == pytest.approx(table.loc[synthesis.TOTAL, "usd_bn"])
    assert table.attrs["macro source"] == "GE"
    # the bridge: model change -12; gap moved from -4 to -6, so Census goods 2010-2014 = -12 - (-2) = -10;
    # the study's years (2011->2016, -10) add 0
    steps = bridge["usd_bn"]
    assert bridge.loc[bridge["step"] == "part", "usd_bn"].sum() == pytest.approx(-12.0)
    assert list(bridge.loc[bridge["step"] == "subtotal", "usd_bn"]) == pytest.approx([-12.0, -10.0, -10.0])
    assert steps.iloc[-4] == pytest.approx(2.0) and steps.iloc[-2] == pytest.approx(0.0)
    text = " ".join(synthesis.structural_findings(table, bridge, est, KOR))
    assert "-10.0 bn (Census goods)" in text and "closing only the US's and KOR's own imbalances accounts for -8.0" in text
    assert "intervals overlap" in text  # headline [-5, 1] and GE [-6, 1]
    rows = results.estimate_rows(synthesis.structural_attribution_rows(table, KOR), "06", KOR.study_id)
    assert len(rows) == len(table)


def test_without_the_structural_account_the_macro_parts_come_from_the_trade_equations():
    table, bridge = synthesis.structural_attribution(synthetic_estimates(), KOR)
    assert table.attrs["macro source"] == "trade equations" and bridge.empty
    assert "macro: demand (trade equations)" in table.index and synthesis.GE_AGREEMENT not in table.index
    assert table.loc[table["counted"], "usd_bn"].sum() == pytest.approx(-10.0)
    text = " ".join(synthesis.structural_findings(table, bridge, synthetic_estimates(), KOR))
    assert "no structural account for KOR" in text
