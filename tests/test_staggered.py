"""Staggered DiD over every US agreement: diff_diff's ATT(g, t) against the textbook formula
on SYNTHETIC panels, Sun-Abraham against Callaway-Sant'Anna and against a saturated pyfixest
regression, exact recovery of known effects, the seeded bootstrap of the US$ effect, the
panel builder on SYNTHETIC Census-like tables, bad input, and the design on the real data
(``mirror``)."""

from __future__ import annotations

import time
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from korus_research import agreements, config, plots, staggered  # noqa: E402
from korus_research.errors import DataError, EstimationError, KorusError, ParameterError  # noqa: E402
from korus_research.study import Study  # noqa: E402

COHORTS = {2004: ["T1", "T2"], 2008: ["T3", "T4", "T5"], 2012: ["T6", "T7"]}


def synthetic_panel(seed: int = 0, n_never: int = 10, start: int = 2000, end: int = 2016, noise: float = 0.1,
                    effects: dict[str, float] | None = None, cohorts: dict[int, list[str]] | None = None) -> pd.DataFrame:
    """SYNTHETIC balanced partner-year panel: log flow = partner + year effects (+ a partner-
    specific trend when ``noise`` > 0) + noise + ``effects[partner]`` from the partner's cohort on."""
    rng = np.random.default_rng(seed)
    cohorts = COHORTS if cohorts is None else cohorts
    effects = effects or {}
    cohort_of = {p: g for g, ps in cohorts.items() for p in ps} | {f"N{i:02d}": 0 for i in range(n_never)}
    years = np.arange(start, end + 1)
    gamma_x, gamma_m = np.cumsum(rng.normal(0.03, 0.05, len(years))), np.cumsum(rng.normal(0.05, 0.05, len(years)))
    rows = []
    for p, g in cohort_of.items():
        ax, am = rng.normal(7, 1), rng.normal(7.5, 1)
        for j, y in enumerate(years):
            post = effects.get(p, 0.0) if g and y >= g else 0.0
            lx = ax + gamma_x[j] + rng.normal(0, noise) + post
            lm = am + gamma_m[j] + rng.normal(0, noise) + post
            rows.append({"partner": p, "period": int(y), "cohort": g, "exports": np.exp(lx), "imports": np.exp(lm)})
    frame = pd.DataFrame(rows)
    frame["log_exports"], frame["log_imports"] = np.log(frame["exports"]), np.log(frame["imports"])
    frame["balance_ratio"] = (frame["exports"] - frame["imports"]) / (frame["exports"] + frame["imports"])
    return frame


def hand_att(frame: pd.DataFrame, outcome: str, g: int, t: int, base: int, control: str) -> float:
    """The textbook ATT(g, t), written independently of the module: group means of changes."""
    wide = frame.pivot(index="partner", columns="period", values=outcome)
    cohort = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    change = wide[t] - wide[base]
    treated = cohort.index[cohort == g]
    if control == "never":
        controls = cohort.index[cohort == 0]
    else:
        controls = cohort.index[(cohort == 0) | ((cohort > max(t, base)) & (cohort != g))]
    return float(change[treated].mean() - change[controls].mean())


@pytest.fixture(scope="module")
def panel():
    return staggered.StaggeredPanel.from_frame(synthetic_panel(seed=1))


# ------------------------------------------------------------- ATT(g, t) by hand ----
@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("base_period", ["universal", "varying"])
def test_diff_diff_att_gt_equals_the_hand_formula(panel, control, base_period):
    res = staggered.callaway_santanna(panel, "log_imports", control, partner="T6", base_period=base_period,
                                      partner_effects=False)
    cells = res.group_time[~res.group_time["reference"]]
    assert len(cells) == 3 * 16  # 17 years less the reference year (universal) or the first year (varying)
    gaps = []
    for row in cells.itertuples():
        base = row.cohort - 1 if (row.period >= row.cohort or base_period == "universal") else row.period - 1
        gaps.append(abs(row.estimate - hand_att(panel.data, "log_imports", row.cohort, row.period, base, control)))
    assert max(gaps) < 1e-10
    # the module's own hand formula (used by the bootstrap) gives the same numbers
    for g in COHORTS:
        ours = staggered.att_gt_by_hand(panel, "log_imports", g, control, base_period).set_index("period")
        theirs = cells[cells["cohort"] == g].set_index("period")
        np.testing.assert_allclose(ours.loc[theirs.index, "estimate"], theirs["estimate"], atol=1e-10, rtol=0)
        np.testing.assert_allclose(ours.loc[theirs.index, "se"], theirs["se"], rtol=1e-10)


def test_not_yet_treated_controls_differ_and_use_later_cohorts(panel):
    never = staggered.callaway_santanna(panel, "log_exports", "never", partner=None, partner_effects=False)
    notyet = staggered.callaway_santanna(panel, "log_exports", "notyet", partner=None, partner_effects=False)
    a = never.group_time.set_index(["cohort", "period"])
    b = notyet.group_time.set_index(["cohort", "period"])
    # cohort 2004 in 2005: the 2008 and 2012 cohorts are not yet treated and join the controls
    assert b.loc[(2004, 2005), "n_control"] == a.loc[(2004, 2005), "n_control"] + 5
    assert abs(a.loc[(2004, 2005), "estimate"] - b.loc[(2004, 2005), "estimate"]) > 1e-6
    # after 2012 nobody is untreated but the never-treated: the two coincide
    assert a.loc[(2008, 2014), "estimate"] == pytest.approx(b.loc[(2008, 2014), "estimate"], abs=1e-12)


def test_group_of_one_covariance_and_average_match_diff_diff(panel):
    from diff_diff import CallawaySantAnna

    table, vcov = staggered.partner_event_study(panel, "T3", "log_imports", "never")
    sub = panel.data[panel.data["partner"].isin(["T3"] + panel.never_treated)]
    fit = CallawaySantAnna(control_group="never_treated", estimation_method="reg", base_period="universal").fit(
        sub, outcome="log_imports", unit="partner", time="period", first_treat="cohort")
    es = fit.aggregate("event_study")
    theirs = pd.DataFrame(es.vcov, index=es.vcov_index, columns=es.vcov_index)
    np.testing.assert_allclose(vcov.loc[theirs.index, theirs.index], theirs, atol=1e-12)
    # the partner's post-period average (w'b, sqrt(w'Vw)) is diff_diff's group aggregation
    res = staggered.callaway_santanna(panel, "log_imports", "never", partner="T3")
    own = res.partners.set_index("partner").loc["T3"]
    group = fit.aggregate("group").to_dataframe().iloc[0]
    assert own["estimate"] == pytest.approx(group["att"], abs=1e-12)
    assert own["se"] == pytest.approx(group["se"], rel=1e-9)
    assert res.focus_pretrend.df == 4 and 0 <= res.focus_pretrend.p_value <= 1


# -------------------------------------------------------------------- Sun-Abraham ----
def test_sun_abraham_equals_cs_universal_never_and_pyfixest(panel):
    import pyfixest as pf

    sa = staggered.sun_abraham(panel, "log_exports", "never")
    cs = staggered.callaway_santanna(panel, "log_exports", "never", partner=None, base_period="universal",
                                     partner_effects=False)
    gt = cs.group_time[~cs.group_time["reference"]].set_index(["cohort", "event_time"])["estimate"]
    ce = sa.cohort_effects.set_index(["cohort", "event_time"])["estimate"]
    assert len(ce) == len(gt)
    np.testing.assert_allclose(ce.loc[gt.index], gt, atol=1e-8, rtol=0)
    es_sa = sa.event_study.set_index("event_time")["estimate"]
    es_cs = cs.event_study.set_index("event_time")["estimate"]
    np.testing.assert_allclose(es_sa.loc[es_cs.index], es_cs, atol=1e-8, rtol=0)
    assert sa.overall["estimate"].iloc[0] == pytest.approx(cs.pooled["estimate"], abs=1e-8)
    # a second package: the saturated cohort x relative-time regression in pyfixest
    data = panel.data.copy()
    rel = data["period"] - data["cohort"]
    data["cell"] = np.where((data["cohort"] > 0) & (rel != -1), data["cohort"].astype(str) + "_" + rel.astype(str), "ref")
    fit = pf.feols("log_exports ~ i(cell, ref='ref') | partner + period", data=data, vcov={"CRV1": "partner"})
    coef = fit.coef()
    for (g, e), value in ce.items():
        assert coef[f"cell::{g}_{e}"] == pytest.approx(value, abs=1e-8)


# ------------------------------------------------------------------ known effects ----
def test_a_constant_effect_is_recovered_exactly():
    frame = synthetic_panel(seed=3, noise=0.0, effects={p: 0.25 for ps in COHORTS.values() for p in ps})
    panel = staggered.StaggeredPanel.from_frame(frame)
    for control in ("never", "notyet"):
        res = staggered.callaway_santanna(panel, "log_imports", control, partner="T6")
        post = res.group_time[res.group_time["event_time"] >= 0]
        pre = res.group_time[(res.group_time["event_time"] < 0) & ~res.group_time["reference"]]
        np.testing.assert_allclose(post["estimate"], 0.25, atol=1e-12)
        np.testing.assert_allclose(pre["estimate"], 0.0, atol=1e-12)
        np.testing.assert_allclose(res.cohorts["estimate"], 0.25, atol=1e-12)
        np.testing.assert_allclose(res.partners["estimate"], 0.25, atol=1e-12)
        assert res.pooled["estimate"] == pytest.approx(0.25, abs=1e-12)
    sa = staggered.sun_abraham(panel, "log_imports")
    np.testing.assert_allclose(sa.event_study.loc[sa.event_study["event_time"] >= 0, "estimate"], 0.25, atol=1e-9)


def test_partner_specific_effects_are_recovered_and_averaged():
    truth = {"T1": 0.1, "T2": 0.3, "T3": -0.2, "T4": 0.0, "T5": 0.5, "T6": 0.4, "T7": 0.2}
    panel = staggered.StaggeredPanel.from_frame(synthetic_panel(seed=4, noise=0.0, effects=truth))
    res = staggered.callaway_santanna(panel, "log_exports", "never", partner="T6")
    got = res.partners.set_index("partner")["estimate"]
    for p, value in truth.items():
        assert got[p] == pytest.approx(value, abs=1e-12)
    cohorts = res.cohorts.set_index("cohort")["estimate"]
    for g, ps in COHORTS.items():
        assert cohorts[g] == pytest.approx(np.mean([truth[p] for p in ps]), abs=1e-12)


def test_dollar_effect_of_known_log_effects():
    truth = {p: 0.2 for ps in COHORTS.values() for p in ps} | {"T6": np.log(2)}
    frame = synthetic_panel(seed=5, noise=0.0, effects=truth)
    panel = staggered.StaggeredPanel.from_frame(frame)
    out = staggered.balance_effect_usd(panel, "T6", 2016, draws=200, seed=1)
    row = frame[(frame["partner"] == "T6") & (frame["period"] == 2016)].iloc[0]
    # X (1 - e^-a) - M (1 - e^-a) with a = log 2: half of each flow, US$ bn
    expected = (row["exports"] / 2 - row["imports"] / 2) / 1e3
    assert out.estimate == pytest.approx(expected, rel=1e-10)
    assert out.table.loc["imports", "counterfactual"] == pytest.approx(row["imports"] / 2e3, rel=1e-10)
    # no noise: every resample gives the same ATT, the interval collapses on the estimate
    assert out.ci_low == pytest.approx(expected, rel=1e-9) and out.ci_high == pytest.approx(expected, rel=1e-9)
    assert out.placebo_ci_low == pytest.approx(expected, rel=1e-9) and out.placebo_ci_high == pytest.approx(expected, rel=1e-9)
    cohort = staggered.balance_effect_usd(panel, "T6", 2016, effect="cohort", draws=50, seed=1)
    a = np.mean([np.log(2), 0.2])
    assert cohort.estimate == pytest.approx((row["exports"] - row["imports"]) * (1 - np.exp(-a)) / 1e3, rel=1e-10)


# ---------------------------------------------------------------------- bootstrap ----
def test_bootstrap_is_seeded_and_its_interval_contains_the_estimate(panel):
    a = staggered.balance_effect_usd(panel, "T6", 2016, draws=400, seed=7)
    b = staggered.balance_effect_usd(panel, "T6", 2016, draws=400, seed=7)
    c = staggered.balance_effect_usd(panel, "T6", 2016, draws=400, seed=8)
    np.testing.assert_array_equal(a.bootstrap, b.bootstrap)
    assert not np.array_equal(a.bootstrap, c.bootstrap)
    assert a.draws == a.n_valid == 400 and "400 draws" in a.notes[0]
    for result in (a, staggered.balance_effect_usd(panel, "T6", 2016, "notyet", "cohort", 300, seed=2)):
        assert result.ci_low <= result.estimate <= result.ci_high
        assert result.table.loc["balance", "effect"] == pytest.approx(
            result.table.loc["exports", "effect"] - result.table.loc["imports", "effect"])
    # the default year is four years after the year of entry (the study's rule)
    assert staggered.balance_effect_usd(panel, "T6", draws=20).year == 2016


# --------------------------------------------------------------- panel builder ----
def census_like(frequency: str) -> pd.DataFrame:
    """SYNTHETIC census_annual / census_monthly rows for a few real ISO3 codes."""
    rng = np.random.default_rng(11)
    partners = ["KOR", "COL", "PAN", "JPN", "ISR", "DEU", "FRA", "BRA", "IND", "TWN", "ZAF"]
    rows = []
    for iso in partners:
        for year in range(2008, 2016):
            for month in (range(1, 13) if frequency == "quarterly" else [None]):
                x, m = rng.uniform(50, 150), rng.uniform(50, 150)
                if iso == "ZAF" and year == 2010:
                    x = 0.0  # a zero flow makes ZAF unbalanced
                if iso == "IND" and year < 2010:
                    continue  # not in the table before 2010
                row = {"vintage": "2026-01", "year": year, "cty_code": 1, "exports_usd_mn": x, "imports_usd_mn": m,
                       "balance_usd_mn": x - m, "partner_name": iso, "iso3": iso, "partner_kind": "country"}
                row.update({"month": month} if month else {"months_reported": 12})
                rows.append(row)
    frame = pd.DataFrame(rows)
    old = frame.assign(vintage="2024-06", exports_usd_mn=1.0)  # an older vintage, ignored
    return pd.concat([frame, old], ignore_index=True)


def test_annual_panel_cohorts_balance_and_roles():
    table = census_like("annual")
    panel = staggered.staggered_panel(table, "annual", 2008, 2015, min_trade_usd_mn=0)
    roles = panel.partners.set_index("partner")
    assert panel.cohorts().set_index("cohort_label").loc["2012", "partners"] == "COL, KOR, PAN"
    assert roles.loc["JPN", "role"] == "never-treated" and "after the window" in roles.loc["JPN", "reason"]
    assert roles.loc["ZAF", "role"] == "excluded" and "2010" in roles.loc["ZAF", "reason"]
    assert roles.loc["IND", "reason"] == "not balanced: no data in 2008-2009"
    assert roles.loc["CAN", "reason"] == "not in the Census table for the window"
    assert set(panel.never_treated) == {"BRA", "DEU", "FRA", "JPN", "TWN"}
    assert roles.loc["ISR", "role"] == "excluded" and "no pre-period" in roles.loc["ISR", "reason"]
    assert "ISR" not in set(panel.data["partner"])
    assert (panel.data.groupby("partner").size() == 8).all()
    dropped = staggered.staggered_panel(table, "annual", 2008, 2015, min_trade_usd_mn=0, late="drop")
    assert "JPN" not in set(dropped.data["partner"])
    rows = table[(table["vintage"] == "2026-01") & (table["year"] == 2008)].set_index("iso3")
    trade = (rows["exports_usd_mn"] + rows["imports_usd_mn"]).loc[sorted(set(panel.data["partner"]))]
    cut = float(trade.median())
    big = staggered.staggered_panel(table, "annual", 2008, 2015, min_trade_usd_mn=cut)
    small = set(trade.index[trade < cut])
    assert small and set(big.data["partner"]) == set(panel.data["partner"]) - small
    assert all(f"< {cut:g} US$ mn in 2008" in big.partners.set_index("partner").loc[p, "reason"] for p in small)
    assert "vintage 2026-01" in panel.source_line() and panel.source_line().startswith("Source:")


def test_quarterly_panel_sums_months_into_quarters():
    table = census_like("quarterly")
    panel = staggered.staggered_panel(table, "quarterly", "2010Q1", "2015Q4", min_trade_usd_mn=0, deseasonalize=False)
    labels = panel.cohorts().set_index("partners")["cohort_label"]
    assert labels["KOR"] == "2012Q1" and labels["COL"] == "2012Q2" and labels["PAN"] == "2012Q4"
    kor = panel.data[(panel.data["partner"] == "KOR") & (panel.data["label"] == "2013Q2")].iloc[0]
    months = table[(table["iso3"] == "KOR") & (table["year"] == 2013) & table["month"].between(4, 6)
                   & (table["vintage"] == "2026-01")]
    assert kor["imports"] == pytest.approx(months["imports_usd_mn"].sum())
    assert kor["log_imports"] == pytest.approx(np.log(months["imports_usd_mn"].sum()))
    adjusted = staggered.staggered_panel(table, "quarterly", "2010Q1", "2015Q4", min_trade_usd_mn=0)
    assert adjusted.notes and (adjusted.data.groupby(["partner", adjusted.data["period"] % 4])["log_imports"].mean()
                               .groupby("partner").std() < 1e-10).all()
    assert staggered.period_code("2012Q1", "quarterly") == 2012 * 4
    assert staggered.period_label(2012 * 4 + 3, "quarterly") == "2012Q4"


# ----------------------------------------------------------------------- bad input ----
def test_bad_input_raises_one_clear_error(panel):
    frame = panel.data
    cases = [
        (lambda: staggered.callaway_santanna(panel, "log_gdp"), ParameterError, "outcome='log_gdp'.*log_imports"),
        (lambda: staggered.callaway_santanna(panel, control_group="both"), ParameterError,
         "control_group='both'.*never, notyet"),
        (lambda: staggered.callaway_santanna(panel, base_period="fixed"), ParameterError, "base_period"),
        (lambda: staggered.att_gt_by_hand(panel, "log_imports", 2010), EstimationError, "empty cohort 2010"),
        (lambda: staggered.callaway_santanna(frame.assign(cohort=0)), EstimationError, "empty treated cohort"),
        (lambda: staggered.callaway_santanna(frame[frame["cohort"] > 0], partner="T6"), EstimationError,
         "empty control group"),
        (lambda: staggered.callaway_santanna(frame.drop(index=[3, 40])), DataError,
         r"not balanced: 2 partner\(s\).*N00 missing 2003, N02 missing 2006"),
        (lambda: staggered.callaway_santanna(frame.assign(log_imports=frame["log_imports"].where(frame.index != 5))),
         DataError, "non-finite"),
        (lambda: staggered.callaway_santanna(panel, partner="N00"), ParameterError, "N00.*not treated"),
        (lambda: staggered.callaway_santanna(panel, partner="KOR"), ParameterError, "partner='KOR'.*T1"),
        (lambda: staggered.balance_effect_usd(panel, "T6", 2010), ParameterError, "year=2010.*from the entry"),
        (lambda: staggered.balance_effect_usd(panel, "T6", 2030), ParameterError, "year=2030"),
        (lambda: staggered.balance_effect_usd(panel, "T6", effect="pooled"), ParameterError, "effect='pooled'"),
        (lambda: staggered.balance_effect_usd(panel, "T6", draws=0), ParameterError, "draws=0"),
        (lambda: staggered.staggered_panel(census_like("annual"), "monthly"), ParameterError, "frequency='monthly'"),
        (lambda: staggered.staggered_panel(census_like("annual"), late="later"), ParameterError, "late='later'"),
        (lambda: staggered.staggered_panel(census_like("annual"), start=2015, end=2010), ParameterError, "start=2015"),
        (lambda: staggered.callaway_santanna(frame.assign(cohort=frame["cohort"].replace(2004, 2000))), DataError,
         "first period"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message) as info:
            call()
        assert isinstance(info.value, KorusError)


# --------------------------------------------------------------------- the figure ----
def test_forest_plot(panel):
    res = staggered.callaway_santanna(panel, "log_imports", "never", partner="T6")
    table = pd.concat([staggered.forest_table(res),
                       pd.DataFrame([{"partner": "X9", "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                      "note": "excluded: no pre-period"}])], ignore_index=True)
    fig = plots.forest_plot(table, res.pooled, highlight="T6", title="SYNTHETIC agreements",
                            xlabel=staggered.OUTCOMES["log_imports"], source=panel.source_line())
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "pooled effect of US agreements" and len(labels) == len(table) + 1
    highlighted = [t for t in ax.get_yticklabels() if t.get_text().startswith("T6")]
    assert highlighted and highlighted[0].get_color() == "firebrick"
    assert "log points" in ax.get_xlabel() and "SYNTHETIC" in ax.get_title()
    assert any(t.get_text().startswith("Source:") for t in fig.texts)
    assert any("not estimated" in t.get_text() for t in ax.texts)
    matplotlib.pyplot.close(fig)


# ------------------------------------------------------------------ the real data ----
@pytest.fixture(scope="module")
def census():
    if not (config.data_processed() / "census_annual.parquet").exists():
        pytest.skip("processed tables not built (make processed)")
    from korus_research import io

    return io.read_table("census_annual")


@pytest.mark.mirror
def test_design_on_the_real_data(census):
    panel = staggered.staggered_panel(census)
    roles = panel.partners.set_index("partner")
    every = set(agreements.agreements_table()["partner"])
    assert every <= set(roles.index)  # every agreement partner has a role (and a reason if excluded)
    assert (roles.loc[roles["role"] == "excluded", "reason"] != "").all()
    cohorts = panel.cohorts().set_index("cohort")["partners"]
    assert cohorts[2012] == "COL, KOR, PAN"
    assert roles.loc["JPN", "role"] == "never-treated"
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the design runs without warnings from the libraries
        results = {(o, c): staggered.callaway_santanna(panel, o, c) for o in ("log_imports", "log_exports")
                   for c in ("never", "notyet")}
        sa = staggered.sun_abraham(panel, "log_imports")
    assert time.perf_counter() - started < 20
    for res in results.values():
        assert set(res.partners["partner"]) == set(panel.treated)
        for table in (res.cohorts, res.partners, res.overall):
            assert np.isfinite(table[["estimate", "se", "ci_low", "ci_high"]].to_numpy()).all()
        assert np.isfinite(res.pretrend.p_value) and res.focus == "KOR"
    assert np.isfinite(sa.event_study.loc[~sa.event_study["reference"], "estimate"]).all()
    usd = staggered.balance_effect_usd(panel, Study.build("KOR"), draws=199, seed=3)  # the study's compare year
    assert usd.year == 2016 and np.isfinite(usd.estimate) and usd.ci_low <= usd.estimate <= usd.ci_high
    # a window from 1992 brings in JOR, MAR, NIC and OMN (Census has them from 1992 only);
    # between the two windows every pre-2020 agreement partner but ISR (in force 1985) is estimated
    later = staggered.staggered_panel(census, start=1992)
    first = agreements.agreements_table().query("entry_into_force.dt.year < 2020")["partner"]
    assert set(first) - set(panel.treated) - set(later.treated) == {"ISR"}
    res = staggered.callaway_santanna(later, "log_imports", "never", partner_effects=True)
    assert np.isfinite(res.partners[["estimate", "se"]].to_numpy()).all()


@pytest.mark.mirror
def test_quarterly_design_on_the_real_data(census):
    from korus_research import io

    started = time.perf_counter()
    panel = staggered.staggered_panel(io.read_table("census_monthly"), "quarterly")
    res = staggered.callaway_santanna(panel, "log_exports", "notyet", pretrend_leads=8)
    assert time.perf_counter() - started < 20
    assert panel.cohort_of("KOR") == staggered.period_code("2012Q1", "quarterly")
    assert np.isfinite(res.partners[["estimate", "se"]].to_numpy()).all() and np.isfinite(res.pooled["estimate"])


def test_the_whole_design_in_one_call(panel):
    design = staggered.staggered_design(panel, partner="T6", year=2015, draws=50, seed=3)
    table = design.summary()
    assert set(design.cs) == {(o, c) for o in ("log_imports", "log_exports") for c in ("never", "notyet")}
    assert set(design.dollars) == {"never", "notyet"} and design.dollars["never"].year == 2015
    assert {"pooled effect of US agreements", "cohort 2012 (T6, T7)", "T6 alone (group of one)",
            "pooled effect (Sun-Abraham)"} <= set(table["quantity"])
    assert np.isfinite(table[["estimate", "ci_low", "ci_high"]].to_numpy()).all()


def test_placebo_inference_by_hand():
    frame = synthetic_panel(seed=6, n_never=15, effects={"T6": 1.0})
    panel = staggered.StaggeredPanel.from_frame(frame)
    out = staggered.placebo_inference(panel, "T6", "log_imports", horizon=2, alpha=0.1)
    # placebo averages written out: each never-treated partner against the 14 others, 2012-2014 vs 2011
    wide = frame.pivot(index="partner", columns="period", values="log_imports")
    change = wide[[2012, 2013, 2014]].sub(wide[2011], axis=0)
    never = [p for p in wide.index if p.startswith("N")]
    placebo = [float((change.loc[j] - change.loc[[i for i in never if i != j]].mean()).mean()) for j in never]
    actual = float((change.loc["T6"] - change.loc[never].mean()).mean())
    assert out["estimate"] == pytest.approx(actual, abs=1e-12) and out["n_placebo"] == 15
    low, high = np.quantile(placebo, [0.05, 0.95])
    assert out["placebo_ci_low"] == pytest.approx(actual - high, abs=1e-12)
    assert out["placebo_ci_high"] == pytest.approx(actual - low, abs=1e-12)
    assert out["placebo_p"] == pytest.approx(1 / 16)  # an effect of 1.0 beats every placebo
    assert 0 < out["placebo_pretrend_p"] <= 1
    res = staggered.callaway_santanna(panel, "log_imports", "never", partner="T6", horizon=2, alpha=0.1)
    row = res.partners.set_index("partner").loc["T6"]
    assert row["placebo_ci_low"] == pytest.approx(out["placebo_ci_low"], abs=1e-12)
    assert row["placebo_ci_high"] - row["placebo_ci_low"] > row["ci_high"] - row["ci_low"]  # wider than analytic
    with pytest.raises(EstimationError, match="at least 5 never-treated"):
        staggered.placebo_inference(staggered.StaggeredPanel.from_frame(synthetic_panel(n_never=3)), "T6")


@pytest.mark.mirror
def test_study_panel_follows_the_study(census):
    kor = staggered.study_panel(census, Study.build("KOR"))
    assert kor.cohort_of("KOR") == 2012 and kor.start == "1985"
    # Oman is in the Census table from 1992: its study gets the later window, noted
    omn = staggered.study_panel(census, Study.build("OMN"))
    assert omn.start == "1992" and omn.cohort_of("OMN") == 2009 and "from 1992" in omn.notes[-1]
    # a hypothetical entry date makes the partner a cohort of its own, noted; others keep the table's
    chn = staggered.study_panel(census, Study.build("CHN", entry="2015-01-01"))
    assert chn.cohort_of("CHN") == 2015 and chn.cohort_of("KOR") == 2012 and "CHN's cohort" in chn.notes[-1]
    # a partner the design cannot treat is a data limitation (the notebook skips the section), with the reason
    with pytest.raises(EstimationError, match="ISR.*no pre-period"):
        staggered.study_panel(census, Study.build("ISR"))
    with pytest.raises(EstimationError, match="never treated within it"):
        staggered.study_panel(census, Study.build("JPN"))


def test_pooled_balance_effect_by_hand(panel):
    cs = {o: staggered.callaway_santanna(panel, o, "never", partner="T6") for o in ("log_exports", "log_imports")}
    got = staggered.pooled_balance_effect(cs["log_exports"], cs["log_imports"], panel, "T6", 2015, level=0.9)
    rows = panel.data[(panel.data["partner"] == "T6") & (panel.data["year"] == 2015)]
    x, m = rows["exports"].sum() / 1e3, rows["imports"].sum() / 1e3
    ax, am = cs["log_exports"].pooled["estimate"], cs["log_imports"].pooled["estimate"]
    assert got["estimate"] == pytest.approx(x * (1 - np.exp(-ax)) - m * (1 - np.exp(-am)), rel=1e-12)
    se = np.hypot(x * np.exp(-ax) * cs["log_exports"].pooled["se"], m * np.exp(-am) * cs["log_imports"].pooled["se"])
    assert got["se"] == pytest.approx(se, rel=1e-12)
    assert got["ci_high"] - got["estimate"] == pytest.approx(1.6448536269514722 * se, rel=1e-9)
    with pytest.raises(ParameterError, match="year"):
        staggered.pooled_balance_effect(cs["log_exports"], cs["log_imports"], panel, "T6", 1900)


@pytest.mark.mirror
def test_product_group_panel_on_comtrade(census):
    from korus_research import io

    comtrade = io.read_table("comtrade_hs2")
    autos = staggered.product_group_panel(comtrade, ["87"])
    roles = autos.partners.set_index("partner")
    assert autos.cohorts().set_index("cohort").loc[2012, "partners"] == "COL, KOR, PAN"
    # agreements in force by the window's first year are neither treated nor controls
    assert roles.loc["MEX", "role"] == "excluded" and "no pre-period" in roles.loc["MEX", "reason"]
    assert "MEX" not in set(autos.data["partner"])
    assert autos.source_line().startswith("Source: UN Comtrade") and "HS 87" in autos.notes[-1]
    # the group's flows are the chapter's sums (US$ million) for a partner and year
    kor = comtrade[(comtrade["partner_iso3"] == "KOR") & (comtrade["hs2"] == "87") & (comtrade["year"] == 2016)]
    row = autos.data[(autos.data["partner"] == "KOR") & (autos.data["year"] == 2016)].iloc[0]
    assert row["imports"] == pytest.approx(kor.loc[kor["flow"] == "import", "value_usd"].sum() / 1e6)
    assert staggered.product_study_panel(comtrade, Study.build("KOR"), ["87"]).cohort_of("KOR") == 2012
    with pytest.raises(ParameterError, match="chapters"):
        staggered.product_group_panel(comtrade, ["100"])
    with pytest.raises(ParameterError, match="within the Comtrade table"):
        staggered.product_group_panel(comtrade, ["87"], start=1990)
    with pytest.raises(EstimationError, match="CHL.*no pre-period"):
        staggered.product_study_panel(comtrade, Study.build("CHL"), ["87"])
