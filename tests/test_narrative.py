"""Sentences written from numbers: they follow the numbers, skip missing sections, never show nan.

Every frame here is SYNTHETIC (made up to exercise one rule), shaped like the notebook's own.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from korus_research import balance, narrative

STUDY = SimpleNamespace(partner="KOR", base_year=2011, compare_year=2016, has_agreement=True)


def _text(sentences) -> str:
    return " ".join(sentences if isinstance(sentences, list) else [sentences or ""])


def _no_nan(sentences) -> None:
    text = _text(sentences).lower()
    for bad in ("nan", "inf ", "none bn", "<na>"):
        assert bad not in text, f"{bad!r} in: {text}"


# --------------------------------------------------------------------------- notebook 01
def _change(b0=-13.2, b1=-27.6, x0=43.5, x1=42.3):
    m0, m1 = x0 - b0, x1 - b1
    table = pd.DataFrame({"2011": [x0, m0, b0], "2016": [x1, m1, b1]},
                         index=["exports_usd_bn", "imports_usd_bn", "balance_usd_bn"])
    table["change"] = table["2016"] - table["2011"]
    return table


def _reconciliation(gross=25.1, census_deficit=27.6, net=19.3, comtrade_deficit=29.6, d_autos=-8.0, d_total=-14.5):
    rows = {
        balance.AUTOS_GROSS: dict(period="2016", share=gross / census_deficit, numerator_usd_bn=gross,
                                  denominator_usd_bn=census_deficit, kind="gross"),
        balance.AUTOS_NET: dict(period="2016", share=net / comtrade_deficit, numerator_usd_bn=net,
                                denominator_usd_bn=comtrade_deficit, kind="net"),
        balance.AUTOS_CHANGE: dict(period="2011->2016", share=d_autos / d_total, numerator_usd_bn=d_autos,
                                   denominator_usd_bn=d_total, kind="change"),
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.attrs["components"] = {"hs87_exports_usd_bn": 2.2, "hs87_imports_usd_bn": 2.2 + net}
    return out


def _published(share=0.9):
    return pd.DataFrame({"period": ["2016"], "share": [share], "source": ["Trade Report, 2017"]},
                        index=["published: Automotive share of the US goods deficit with Korea"])


def _comparison(ours=(-13.2, 42.26), published=(-13.2, 42.7)):
    out = pd.DataFrame({"quantity": ["US goods trade balance with Korea", "US goods exports to Korea"],
                        "period": ["2011", "2016"], "unit": ["USD bn", "USD bn"], "ours": list(ours),
                        "published": list(published), "source": ["USTR", "PIIE"]}, index=["a", "b"])
    out["difference"] = out["ours"] - out["published"]
    return out


def test_balance_overview_states_the_change_from_the_numbers():
    text = _text(narrative.balance_overview(_change(), _reconciliation(), _comparison(), STUDY))
    assert "a deficit of 13.2 bn in 2011 to a deficit of 27.6 bn in 2016" in text
    assert "a change of -14.4 bn" in text and "2.1 times" in text
    assert "US imports from KOR rose by 13.2 bn and US exports fell by 1.2 bn" in text
    assert "91% of the goods deficit" in text and "65% of the goods deficit" in text
    assert "autos account for 55% of the change" in text
    assert "match 1 of the 2 published" in text and "42.26 against 42.70" in text


def test_balance_overview_sign_words_flip():
    # a surplus turning into a smaller one: no deficit words, no ratio of deficits
    text = _text(narrative.balance_overview(_change(b0=5.0, b1=2.0, x0=50.0, x1=40.0), None, None, STUDY))
    assert "a surplus of 5.0 bn in 2011 to a surplus of 2.0 bn" in text and "-3.0 bn" in text
    assert "deficit was" not in text
    assert "US imports from KOR fell by 7.0 bn and US exports fell by 10.0 bn" in text
    # a deficit that shrank is a share of the base year's, not a multiple
    text = _text(narrative.balance_overview(_change(b0=-20.0, b1=-5.0), None, None, STUDY))
    assert "the 2016 deficit was 25% of the 2011 deficit" in text


def test_balance_overview_missing_sections_write_no_sentence():
    sentences = narrative.balance_overview(_change(), None, None, STUDY)
    text = _text(sentences)
    assert "autos" not in text and "published" not in text and "revised" not in text
    rec = _reconciliation().drop(index=[balance.AUTOS_GROSS, balance.AUTOS_CHANGE])
    text = _text(narrative.balance_overview(_change(), rec, None, STUDY))
    assert "Net of US auto exports" in text and "gross US automotive imports" not in text
    assert "of the change" not in text.split("Net of US auto exports")[1]


def test_balance_overview_revisions_and_no_nan():
    revisions = pd.DataFrame({"balance_usd_bn_2024-06": [-17.9, -43.23, -51.10], "balance_usd_bn_2026-01": [-17.9, -43.26, -51.35]},
                             index=pd.Index([2018, 2022, 2023], name="year"))
    revisions["revision"] = revisions.iloc[:, 1] - revisions.iloc[:, 0]
    text = _text(narrative.balance_overview(_change(), None, None, STUDY, revisions))
    assert "2024-06 and 2026-01 releases" in text and "by 0.25 bn at most (2023: -0.25 bn)" in text
    nan_change = _change()
    nan_change.loc["balance_usd_bn", "2016"] = np.nan
    nan_change.loc["exports_usd_bn", "change"] = np.nan
    _no_nan(narrative.balance_overview(nan_change, _reconciliation(), _comparison(ours=(np.nan, 1.0)), STUDY))


def test_autos_claim_is_the_closer_of_gross_and_net():
    rec = _reconciliation()
    note = narrative.autos_note(rec, _published(0.90))
    assert "closest to (a), the gross ratio (0.91), not to (b), the net share (0.65)" in note
    assert "counts gross auto imports" in note
    assert "HS 87 imports 21.5 bn less exports 2.2 bn" in note
    # the same published figure is the net share when the numbers say so
    note = narrative.autos_note(rec, _published(0.66))
    assert "closest to (b), the net share (0.65), not to (a), the gross ratio (0.91)" in note
    assert "nets auto exports out" in note
    text = _text(narrative.balance_overview(_change(), rec, None, STUDY, published_autos=_published(0.66)))
    assert "is the net share" in text


def test_autos_note_when_autos_are_in_surplus_or_missing():
    rec = _reconciliation(net=-0.3, comtrade_deficit=1.4)
    note = narrative.autos_note(rec)
    assert "in US surplus" in note and "none of the deficit" in note
    assert narrative.autos_note(rec.iloc[0:0], _published()) is None
    _no_nan(narrative.autos_note(rec, _published(np.nan)))


def test_autos_moving_against_the_change_are_said_to():
    text = _text(narrative.balance_overview(_change(), _reconciliation(d_autos=-0.3, d_total=8.0), None, STUDY))
    assert "autos moved the balance the other way (-4% of the change)" in text


def test_the_share_of_a_tiny_change_is_not_quoted():
    text = _text(narrative.balance_overview(_change(), _reconciliation(d_autos=-25.6, d_total=0.85), None, STUDY))
    assert "too small beside its parts" in text and "-3012%" not in text


# --------------------------------------------------------------------------- notebook 02
def _contributions(autos=(1.1e9, 9.1e9), other=(-2.3e9, 4.2e9)):
    c = pd.DataFrame({"exports_change": [autos[0], other[0]], "imports_change": [autos[1], other[1]]},
                     index=["autos (ch. 87)", "all other goods"])
    c.loc["total"] = c.sum()
    c["balance_change"] = c["exports_change"] - c["imports_change"]
    c["share_of_balance_change"] = c["balance_change"] / c.loc["total", "balance_change"]
    return c


def test_decomposition_orders_groups_and_words_follow_signs():
    shift = pd.DataFrame({"change": [13.3e9], "total_demand": [-0.4e9], "product_mix": [6.3e9], "partner_share": [7.4e9]},
                         index=["total"])
    lmdi = pd.DataFrame({"product_mix": [0.00276], "within_product_share": [0.00334]}, index=["total"])
    lmdi.attrs.update(share_base=0.02589, share_compare=0.03199)
    text = _text(narrative.decomposition(_contributions(), STUDY, "comtrade", shift, lmdi))
    assert "changed by -14.5 bn" in text
    assert text.index("autos (ch. 87) -8.0 bn (55%)") < text.index("all other goods -6.5 bn (45%)")
    assert "US imports that rose by 9.1 bn and US exports that rose by 1.1 bn" in text
    assert "the largest part is KOR gaining share within products" in text
    assert "rose from 2.59% in 2011 to 3.20% in 2016" in text and "+0.28 share points" in text
    # flipped signs: the partner losing share, exports falling, a group moving against the total
    shift.loc["total", "partner_share"] = -9.0e9
    lmdi.attrs.update(share_base=0.032, share_compare=0.026)
    text = _text(narrative.decomposition(_contributions(autos=(-1.0e9, 9.0e9), other=(3.0e9, -1.0e9)), STUDY,
                                         "comtrade", shift, lmdi))
    assert "KOR losing share within products" in text and "fell from 3.20%" in text
    assert "US exports that fell by 1.0 bn" in text
    assert "Moving the balance the other way: all other goods (+4.0 bn)" in text


def test_decomposition_missing_sections_and_nan():
    assert narrative.decomposition(None, STUDY) == []
    text = _text(narrative.decomposition(_contributions(), STUDY))
    assert "import demand" not in text and "share of US imports" not in text
    shift = pd.DataFrame({"change": [np.nan], "total_demand": [1.0], "product_mix": [1.0], "partner_share": [1.0]},
                         index=["total"])
    autos_share = pd.DataFrame({"autos share": [0.553, np.nan]}, index=["comtrade basis", "Census basis"])
    sentences = narrative.decomposition(_contributions(), STUDY, shift=shift, autos_share=autos_share)
    _no_nan(sentences)
    assert "The autos share of the change is 55% on the comtrade basis." in _text(sentences)


# --------------------------------------------------------------------------- notebook 03
def _estimates(values=(-8.5, -6.1, -22.3), lows=(-21.2, -12.8, -70.0), highs=(4.2, 0.6, 37.0), pre_p=1e-6):
    designs = ["event study (OLS)", "event study (PPML)", "staggered DiD (Callaway-Sant'Anna), partner alone"]
    rows = [dict(quantity="agreement effect on the balance", estimator=e, period="2016", unit="US$ bn", value=v, low=lo,
                 high=hi, diagnostics="failed" if e.startswith("event") else "passed")
            for e, v, lo, hi in zip(designs, values, lows, highs, strict=True)]
    rows += [dict(quantity="pre-trend p-value", estimator=f"event study (OLS), {f}", period="", unit="p-value", value=pre_p,
                  low=np.nan, high=np.nan, diagnostics="not tested") for f in ("imports", "exports")]
    rows += [dict(quantity=f"agreement effect on US {f}", estimator="event study (OLS)", period="2015", unit="US$ bn",
                  value=v, low=np.nan, high=np.nan, diagnostics="failed") for f, v in (("imports", 18.6), ("exports", 1.2))]
    return pd.DataFrame(rows)


def _usitc(ours=-17.4, low=-29.9, high=-4.8, published=15.8):
    return pd.DataFrame([{"published quantity": "Improvement of the US bilateral merchandise balance with Korea due to KORUS",
                          "period": "2015", "estimator": "event study, ols", "ours": ours, "ours_ci_low": low,
                          "ours_ci_high": high, "published_low": published, "published_high": published,
                          "our years": "2015", "source": "USITC"}])


def test_agreement_effects_reads_signs_intervals_and_diagnostics():
    text = _text(narrative.agreement_effects(_estimates(), _usitc(), STUDY, n_controls=30))
    assert "3 estimates of the agreement's effect on the 2016 US balance with KOR range from -22.3 bn to -6.1 bn" in text
    assert "all negative" in text and "none excludes zero" in text
    assert "jointly significant at 5%" in text
    text = _text(narrative.agreement_effects(_estimates(values=(3.0, 2.0, 1.0), lows=(1.0, 0.5, -1.0),
                                                        highs=(5.0, 3.5, 3.0), pre_p=0.4), None, STUDY))
    assert "all positive" in text and "2 exclude zero" in text and "1 includes it" in text
    assert "not jointly significant" in text and "USITC" not in text


@pytest.mark.parametrize("p_values, words", [((0.48, 0.52), "does not stand out"), ((0.05, 0.03), "for every flow"),
                                               ((0.35, 0.03), "for exports only")])
def test_placebo_words_follow_the_p_values(p_values, words):
    placebo = pd.DataFrame({"quantity": "placebo p-value", "estimator": ["synthetic control (shares), imports",
                                                                        "synthetic control (shares), exports"],
                            "period": "", "unit": "p-value", "value": p_values, "low": np.nan, "high": np.nan,
                            "diagnostics": "not tested"})
    assert words in _text(narrative.agreement_effects(placebo, None, STUDY))


def test_the_usitc_disagreement_is_explained_from_the_numbers():
    sentences = narrative.agreement_effects(_estimates(), _usitc(), STUDY, n_controls=30)
    usitc = [s for s in sentences if "USITC" in s]
    assert len(usitc) >= 3  # more than one sentence
    text = _text(usitc)
    assert "improved the 2015 US balance with KOR by 15.8 bn" in text
    assert "all of the opposite sign" in text and "lies above every one of our 95% intervals" in text
    assert "US imports +18.6 bn, US exports +1.2 bn" in text and "raised US imports more than US exports" in text
    assert "30 control partners" not in text  # the design sentence needs the benchmark's note
    # a published figure of our sign, inside our interval
    text = _text(narrative.agreement_effects(_estimates(), _usitc(published=-10.0), STUDY))
    assert "all of the same sign" in text and "inside 1 of our 1 95% intervals" in text
    assert "worsened the 2015 US balance" in text


def test_agreement_effects_without_an_agreement_or_estimates_says_nothing():
    assert narrative.agreement_effects(None, None, STUDY) == []
    no_agreement = SimpleNamespace(**{**vars(STUDY), "has_agreement": False})
    assert narrative.agreement_effects(_estimates(), _usitc(), no_agreement) == []
    est = _estimates()
    est.loc[0, ["value", "low", "high"]] = np.nan
    _no_nan(narrative.agreement_effects(est, _usitc(ours=np.nan), STUDY))


# --------------------------------------------------------------------------- notebook 04
def _gravity_estimates(coef=(-0.25, 0.61), pe=(4.9, -14.2), lead_p=(1e-9, 0.09), ge=-22.3):
    specs = ["DTA 1964-2016, three-way", "DTA 1964-2016, two-way + CEPII"]
    rows = [dict(quantity="agreement coefficient", estimator=f"gravity PPML: {s} (agreement)", period="", value=c,
                 low=c - 0.15, high=c + 0.15, diagnostics="not tested") for s, c in zip(specs, coef, strict=True)]
    rows += [dict(quantity="agreement effect on the balance", estimator=f"gravity PPML: {s}", period="2016", value=v,
                  low=v - 5.6, high=v + 5.6, diagnostics="not tested") for s, v in zip(specs, pe, strict=True)]
    rows += [dict(quantity="lead test p-value (general gravity models)", estimator=f"gravity PPML general: model {i}",
                  period="", value=p, low=np.nan, high=np.nan, diagnostics="passed" if p >= 0.05 else "failed")
             for i, p in enumerate(lead_p)]
    rows.append(dict(quantity="GE bootstrap: agreement effect on the balance", estimator="gravity PPML + GE: WIOD",
                     period="2014", value=ge, low=ge - 9, high=ge + 8, diagnostics="failed"))
    return pd.DataFrame(rows).assign(unit="US$ bn")


def _usitc04(value="15.8"):
    return pd.DataFrame([{"published": "Improvement of the US bilateral merchandise balance with Korea due to KORUS",
                          "published value": value, "published period": "2015", "specification": "x", "our year": 2016,
                          "ours": 1.0}])


def test_gravity_sentences_follow_the_numbers():
    text = _text(narrative.gravity(_gravity_estimates(), _usitc04(), STUDY))
    assert "ranges from -0.25" in text and "to +0.61" in text and "disagree on its sign" in text
    assert "22% lower than the fixed effects predict" in text
    assert "1 of 2 negative" in text
    assert "fails (p < 0.05) for 1 of the 2 general models" in text
    assert "-22.3 bn [-31.3, -14.3]" in text and "excluding zero" in text
    assert "1 of our 2 partial-equilibrium estimates have its sign" in text
    text = _text(narrative.gravity(_gravity_estimates(coef=(0.2, 0.61), pe=(-1.0, -2.0), lead_p=(0.3, 0.4), ge=1.0),
                                   _usitc04(), STUDY))
    assert "same sign" in text and "higher than the fixed effects predict" in text
    assert "2 of 2 negative" in text and "no sign of trade moving before entry" in text
    assert "0 of our 2 partial-equilibrium estimates have its sign (none)" in text


def test_gravity_missing_sections():
    assert narrative.gravity(None, None, STUDY) == []
    est = _gravity_estimates()
    text = _text(narrative.gravity(est[est["quantity"] == "agreement coefficient"], _usitc04("6.4-6.9"), STUDY))
    assert "Beside the USITC" not in text and "general equilibrium" not in text and "leads" not in text
    est.loc[:, "value"] = np.nan
    _no_nan(narrative.gravity(est, _usitc04(), STUDY))


# --------------------------------------------------------------------------- notebook 05
def _macro_estimates(income=(1.1, -7.6, 9.7), rer=(-3.2, -4.5, -1.9), agreement=(-7.3, -15.7, 1.0), share=(0.15, -0.5, 0.79)):
    span = "2011->2016"
    rows = [dict(quantity=q, estimator="trade equations", period=span, unit="US$ bn", value=v, low=lo, high=hi,
                 diagnostics=d)
            for q, (v, lo, hi), d in (("balance change due to income", income, "passed"),
                                      ("balance change due to the real exchange rate", rer, "passed"),
                                      ("agreement effect on the balance change", agreement, "failed"))]
    rows.append(dict(quantity="macro share of the balance change", estimator="trade equations", period=span, unit="share",
                     value=share[0], low=share[1], high=share[2], diagnostics="passed"))
    rows.append(dict(quantity="bounds test F of the US imports equation", estimator="ARDL(2, 0, 2), case 3", period="",
                     unit="statistic", value=17.57, low=np.nan, high=np.nan, diagnostics="passed"))
    rows.append(dict(quantity="income elasticity of US imports", estimator="trade equation: long-run ARDL(2, 0, 2)",
                     period="", unit="elasticity", value=1.29, low=1.11, high=1.46, diagnostics="passed"))
    return pd.DataFrame(rows)


def test_macro_sentences_follow_intervals_and_sizes():
    text = _text(narrative.macro(_macro_estimates(), STUDY, published_income_elasticity=1.5))
    assert "(-9.4 bn) into income +1.1 bn [-7.6, +9.7]" in text
    assert "the real exchange rate has a 95% interval that excludes zero" in text
    assert "cannot say that macroeconomic forces explain any of the change" in text
    assert "the agreement's part is larger in size, though its interval includes zero and its diagnostics failed" in text
    assert "passes the bounds test (F = 17.57)" in text
    assert "below Gagnon's (2003) 1.50, which lies outside our interval" in text
    text = _text(narrative.macro(_macro_estimates(income=(9.0, 2.0, 16.0), agreement=(-1.0, -2.0, -0.5), share=(0.6, 0.2, 1.0)),
                                 STUDY, published_income_elasticity=1.3))
    assert "the interval excludes zero" in text and "part is smaller in size" in text
    assert "below Gagnon's (2003) 1.30, which lies inside our interval" in text


def test_macro_missing_sections_and_nan():
    assert narrative.macro(None, STUDY) == []
    est = _macro_estimates()
    text = _text(narrative.macro(est[est["quantity"].str.startswith("bounds")], STUDY))
    assert "Gagnon" not in text and "share" not in text
    est.loc[:, "value"] = np.nan
    _no_nan(narrative.macro(est, STUDY, published_income_elasticity=np.nan))


# --------------------------------------------------------------------------- figures and tables
def test_alt_texts_are_written_from_the_data():
    series = pd.DataFrame({"balance_usd_bn": [-13.2, np.nan, -27.6, -20.0]}, index=[2011, 2012, 2016, 2017])
    alt = narrative.series_alt("US balance with KOR", series, columns={"balance_usd_bn": "balance"})
    assert alt == ("US balance with KOR (US$ bn). balance: from -13.2 in 2011 to -20.0 in 2017; lowest -27.6 (2016), "
                   "highest -13.2 (2011).")
    assert narrative.series_alt("Nothing", pd.DataFrame({"x": [np.nan]}), columns={"x": "x"}) == "Nothing (US$ bn)."
    bars = narrative.bars_alt("Deficits", pd.Series({"CHN": -346.8, "JPN": -68.8, "KOR": np.nan, "DEU": -64.5}), top=2)
    assert bars == "Deficits (US$ bn): CHN -346.8; JPN -68.8; and 1 more."
    cells = narrative.cells_alt("Heatmap", pd.DataFrame({"2011-12": [1.0, -3.0], "2012-13": [np.nan, 0.5]}, index=["a", "b"]), top=2)
    assert cells == "Heatmap (US$ bn), 2 rows by 2 columns; the 2 largest in size: b, 2011-12 -3.0; a, 2011-12 +1.0."
    for text in (alt, bars, cells):
        _no_nan(text)


def test_statistic_units_read_the_labels():
    labels = ["bounds F p (all I(0))", "bounds F 5% I(1)", "observations", "Bai-Perron breaks (sequential, 5%)",
              "Bai-Perron break dates", "USA exports to KOR, US$ bn", "USA aggregate deficit, % of world output",
              "pseudo R2", "Chow F"]
    assert narrative.statistic_units(labels) == ["p-value", "statistic", "count", "count", "year", "US$ bn", "percent",
                                                 "share", "statistic"]


@pytest.mark.parametrize("value", [math.nan, None])
def test_number_helpers_refuse_missing(value):
    assert not narrative._finite(value)
    assert narrative._finite(1.0, -2)
