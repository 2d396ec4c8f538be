"""Single-treated-unit inference (korus_research.single_unit).

Golden value: the synthetic DiD estimate for California's Proposition 99 (Arkhangelsky et
al. 2021, Table 1: -15.6; R ``synthdid``: -15.60383, with its unit weights) on the data of
R ``synthdid``. Third-party data are not copied into this repository, so that test runs only
where a developer has put the R package's ``california_prop99`` panel (wide: year x state, packs
per capita) at ``tests/data/single_unit_prop99.csv``; otherwise it is skipped
(``diff_diff.load_prop99`` needs the network and otherwise returns a synthetic fallback). Hand checks: the estimate
recomputed from the reported weights, a case known by construction, permutation p-values
by enumeration, the Rambachan-Roth sets against their closed forms. Frames built inside
the tests are small SYNTHETIC examples, labelled so; the Korea run needs the processed data.
"""

from __future__ import annotations

import warnings
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from korus_research import config, effects
from korus_research import single_unit as su
from korus_research.errors import DataError, EstimationError, KorusError, ParameterError

PROP99 = Path(__file__).parent / "data" / "single_unit_prop99.csv"


# ------------------------------------------------------------------ SYNTHETIC panels ----


def additive_panel(seed: int, *, effect: float = 0.3, shift: float = 0.7, noise: float = 0.0,
                   n_controls: int = 8, start: int = 2000, end: int = 2015, entry: int = 2010) -> pd.DataFrame:
    """SYNTHETIC panel: controls follow partner + year effects (plus ``noise``); the treated
    partner ``T`` is the exact average of controls C0 and C1, plus ``shift``, plus ``effect``
    from ``entry`` on. Columns ``partner, year, imports, exports`` (levels, not logs)."""
    rng = np.random.default_rng(seed)
    years = np.arange(start, end + 1)
    y = rng.normal(5, 1, n_controls)[None, :] + np.cumsum(rng.normal(0.05, 0.1, len(years)))[:, None]
    y = y + rng.normal(0, noise, y.shape) if noise else y
    wide = pd.DataFrame(y, index=years, columns=[f"C{j}" for j in range(n_controls)])
    wide["T"] = wide[["C0", "C1"]].mean(axis=1) + shift + effect * (years >= entry)
    long = wide.rename_axis(index="year", columns="partner").stack().rename("imports").reset_index()
    return long.assign(exports=lambda f: f["imports"] * 2.0)[["partner", "year", "imports", "exports"]]


def flows_panel(seed: int, n_controls: int = 12, start: int = 2000, end: int = 2019, entry: int = 2012,
                effect_m: float = 0.2, effect_x: float = 0.1) -> pd.DataFrame:
    """SYNTHETIC partner-year panel of positive flows (US$ million) with log effects on the
    treated partner ``KOR`` from ``entry`` on."""
    rng = np.random.default_rng(seed)
    years = np.arange(start, end + 1)
    rows = []
    gamma = np.cumsum(rng.normal(0.04, 0.03, len(years)))
    for i, p in enumerate(["KOR"] + [f"P{j:02d}" for j in range(n_controls)]):
        a = rng.normal(9, 1)
        for t, year in enumerate(years):
            post = i == 0 and year >= entry
            rows.append({"partner": p, "year": int(year),
                         "imports": float(np.exp(a + gamma[t] + effect_m * post + rng.normal(0, 0.04))),
                         "exports": float(np.exp(a - 0.4 + gamma[t] + effect_x * post + rng.normal(0, 0.04)))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def prop99() -> pd.DataFrame:
    if not PROP99.exists():
        pytest.skip("the Prop 99 panel of R synthdid is not stored here (third-party data): put it at "
                    "tests/data/single_unit_prop99.csv to run the published golden value")
    wide = pd.read_csv(PROP99, comment="#")
    return wide.melt(id_vars="year", var_name="partner", value_name="packs")


@pytest.fixture(scope="module")
def prop99_fit(prop99) -> su.SDIDResult:
    return su.synthetic_did(prop99, "California", 1989, "packs", log=False, n_placebo=50, seed=7)


# ------------------------------------------------------------------ synthetic DiD ----


def test_sdid_prop99_golden_value(prop99_fit):
    # Arkhangelsky et al. (2021) Table 1: SDID -15.6; R synthdid / Stata sdid: -15.60383
    assert prop99_fit.estimate == pytest.approx(-15.60383, abs=5e-5)
    assert round(prop99_fit.estimate, 1) == -15.6
    # R synthdid's summary(): Nevada 0.124, New Hampshire 0.105, Connecticut 0.078, Delaware 0.070, Colorado 0.058
    top = prop99_fit.unit_weights.head(5)
    assert top["partner"].tolist() == ["Nevada", "New Hampshire", "Connecticut", "Delaware", "Colorado"]
    assert np.allclose(top["weight"], [0.124, 0.105, 0.078, 0.070, 0.058], atol=6e-4)
    # the plain DiD of the same data (Table 1: -27.3), by hand
    wide = pd.read_csv(PROP99, comment="#").set_index("year")
    pre = wide.index < 1989
    did = (wide.loc[~pre, "California"].mean() - wide.loc[pre, "California"].mean()) - (
        wide.loc[~pre].drop(columns="California").to_numpy().mean() - wide.loc[pre].drop(columns="California").to_numpy().mean())
    assert round(did, 1) == -27.3


@pytest.fixture(scope="module")
def noisy_fit() -> tuple[pd.DataFrame, su.SDIDResult]:
    panel = additive_panel(5, noise=0.08, n_controls=10)  # SYNTHETIC
    return panel, su.synthetic_did(panel, "T", 2010, log=False, n_placebo=60, seed=3)


def test_sdid_estimate_is_the_weighted_double_difference(noisy_fit):
    """Recompute tau from the package's reported unit and time weights and the raw data."""
    panel, fit = noisy_fit
    wide = panel.pivot(index="year", columns="partner", values="imports")
    omega = fit.unit_weights.set_index("partner")["weight"]
    lam = fit.time_weights.set_index("year")["weight"]
    assert omega.sum() == pytest.approx(1, abs=1e-12) and lam.sum() == pytest.approx(1, abs=1e-12)
    post = wide.index >= 2010
    treated = wide.loc[post, "T"].mean() - lam @ wide.loc[lam.index, "T"]
    controls = wide.loc[post, omega.index].mean() - lam @ wide.loc[lam.index, omega.index]
    assert fit.estimate == pytest.approx(treated - omega @ controls, abs=1e-10)
    # and the per-year effects average to it
    assert fit.effects_by_year["effect"].mean() == pytest.approx(fit.estimate, abs=1e-10)


def test_sdid_placebo_enumeration_matches_the_packages_sampled_draws(noisy_fit):
    # Algorithm 4 with one treated unit draws one control as placebo: every sampled draw of
    # diff_diff equals one of our enumerated placebo effects (up to the Frank-Wolfe warm start)
    from diff_diff import SyntheticDiD

    panel, fit = noisy_fit
    enumerated = fit.placebo["effect"].to_numpy()
    assert len(enumerated) == 10 and fit.se == pytest.approx(enumerated.std(), rel=1e-12)
    long = panel.rename(columns={"imports": "y"}).assign(d=lambda f: (f["partner"] == "T").astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the package's pre-fit diagnostic
        sampled = SyntheticDiD(n_bootstrap=40, seed=3).fit(long, "y", "d", "partner", "year",
                                                           post_periods=list(range(2010, 2016)))
    gaps = np.abs(sampled.variance_effects[:, None] - enumerated[None, :]).min(axis=1)
    assert gaps.max() < 0.02 * max(1.0, np.abs(enumerated).max())
    assert 0.5 < fit.se / sampled.se < 2


def test_placebo_in_time_finds_no_effect_before_entry_and_refuses_short_panels():
    panel = additive_panel(5, noise=0.08, n_controls=10)  # SYNTHETIC: the effect starts in 2010
    fake = su.placebo_in_time(panel, "T", 2010, shift=4, log=False, n_placebo=20)
    assert fake.entry_year == 2006 and fake.effects_by_year["year"].max() == 2009
    assert abs(fake.estimate) < 3 * fake.se + 1e-9 and fake.placebo_p_value > 0.05
    # a panel whose effect started earlier than the stated entry fails the check
    early = additive_panel(5, noise=0.0, n_controls=10, entry=2007)
    assert su.placebo_in_time(early, "T", 2010, shift=3, log=False, n_placebo=20).estimate == pytest.approx(0.3, abs=1e-8)
    with pytest.raises(EstimationError, match="fewer than two years"):
        su.placebo_in_time(panel, "T", 2010, shift=9, log=False)
    with pytest.raises(ParameterError, match="shift"):
        su.placebo_in_time(panel, "T", 2010, shift=0, log=False)


def test_sdid_recovers_a_known_effect_exactly():
    # SYNTHETIC: treated = average of two controls + constant + 0.3 from 2010, controls parallel
    res = su.synthetic_did(additive_panel(1), "T", 2010, log=False)
    assert res.estimate == pytest.approx(0.3, abs=1e-10)
    assert np.allclose(res.effects_by_year["effect"], 0.3, atol=1e-10)
    assert res.se == pytest.approx(0, abs=1e-10) and any("do not vary" in n for n in res.notes)


def test_sdid_recovers_an_effect_with_noise_and_covers_it():
    res = su.synthetic_did(additive_panel(2, noise=0.05), "T", 2010, log=False)
    assert abs(res.estimate - 0.3) < 3 * res.se and res.ci_low < 0.3 < res.ci_high
    assert res.ci_low == pytest.approx(res.estimate - stats.norm.ppf(0.975) * res.se)
    assert res.summary().loc[0, "n_controls"] == 8


def test_sdid_on_log_flows_and_the_balance_effect_by_hand():
    panel = flows_panel(5)
    x = su.synthetic_did(panel, "KOR", 2012, "exports", n_placebo=20)
    m = su.synthetic_did(panel, "KOR", 2012, "imports", n_placebo=20)
    assert x.outcome == "log exports" and m.outcome == "log imports"
    assert abs(x.estimate - 0.1) < max(3 * x.se, 0.08) and abs(m.estimate - 0.2) < max(3 * m.se, 0.08)
    out = su.sdid_balance_effect(x, m, panel, 2016, level=0.9)
    row = out.loc[2016]
    kor = panel[(panel["partner"] == "KOR") & (panel["year"] == 2016)].iloc[0]
    xt, mt = kor["exports"] / 1e3, kor["imports"] / 1e3
    assert row["balance_effect"] == pytest.approx(xt * (1 - np.exp(-x.estimate)) - mt * (1 - np.exp(-m.estimate)))
    assert row["balance_effect"] == pytest.approx(row["exports_effect"] - row["imports_effect"])
    # delta method with the partner-paired placebo covariance, by hand
    gx, gm = xt * np.exp(-x.estimate), mt * np.exp(-m.estimate)
    px = x.placebo.set_index("partner")["effect"]
    pm = m.placebo.set_index("partner")["effect"].loc[px.index]
    cov = np.mean((px - px.mean()) * (pm - pm.mean()))
    se = np.sqrt(gx**2 * x.se**2 + gm**2 * m.se**2 - 2 * gx * gm * cov)
    assert row["balance_effect_se"] == pytest.approx(se, rel=1e-10)
    z = stats.norm.ppf(0.95)
    assert row["balance_effect_ci_high"] == pytest.approx(row["balance_effect"] + z * se)
    bx = x.effects_by_year.set_index("year").loc[2016, "effect"]
    bm = m.effects_by_year.set_index("year").loc[2016, "effect"]
    assert row["balance_effect_year"] == pytest.approx(xt * (1 - np.exp(-bx)) - mt * (1 - np.exp(-bm)))


def test_balance_placebo_pairing_is_by_partner():
    # SYNTHETIC: exports are 2 x imports, so log exports = log imports + log 2 and the two
    # fits' placebo effects are identical partner by partner (correlation 1)
    panel = additive_panel(4, noise=0.05)
    panel["imports"] = np.exp(panel["imports"])
    panel["exports"] = panel["imports"] * 2
    x = su.synthetic_did(panel, "T", 2010, "exports", n_placebo=10)
    m = su.synthetic_did(panel, "T", 2010, "imports", n_placebo=10)
    assert x.estimate == pytest.approx(m.estimate, abs=1e-8)
    out = su.sdid_balance_effect(x, m, panel, 2012)
    assert out.loc[2012, "placebo_correlation"] == pytest.approx(1, abs=1e-8)


# ------------------------------------------------------------------ conformal ----


def hand_p_value(u: np.ndarray, n_post: int, index) -> float:
    """Permutation p-value of S_1 by explicit enumeration of the permutations ``index``."""
    def s(v):
        return np.abs(v[-n_post:]).sum() / np.sqrt(n_post)

    observed = s(u)
    index = [list(pi) for pi in index]
    return sum(s(u[list(pi)]) >= observed - 1e-12 for pi in index) / len(index)


def test_permutation_p_value_by_enumeration():
    u = np.array([0.3, -0.1, 0.2, -0.4, 0.5, -0.25])  # 6 periods, the last 2 post
    shifts = [[(i + j) % 6 for i in range(6)] for j in range(6)]
    # hand: S = (|0.5| + |-0.25|)/sqrt 2 = 0.75/sqrt 2; shifted post pairs (|u_{4+j}|, |u_{5+j}|) sums:
    # j=0 .75, j=1 .55, j=2 .4, j=3 .3, j=4 .6, j=5 .9 -> two of six are >= .75
    assert su.permutation_p_value(u, 2)[0] == pytest.approx(2 / 6)
    assert su.permutation_p_value(u, 2)[0] == pytest.approx(hand_p_value(u, 2, shifts))
    p, stat, n = su.permutation_p_value(u, 2, scheme="iid")
    assert n == 720 and p == pytest.approx(hand_p_value(u, 2, permutations(range(6))))
    assert stat == pytest.approx(0.75 / np.sqrt(2))


def six_period_panel(effect: float = 0.0) -> pd.DataFrame:
    """SYNTHETIC 6-year panel: treated T and two controls A, B; treated years 2004-2005."""
    years = np.arange(2000, 2006)
    a = np.array([1.0, 1.3, 0.9, 1.6, 1.2, 1.5])
    b = np.array([3.0, 2.6, 3.3, 2.9, 3.4, 3.1])
    t = np.array([2.1, 1.7, 2.4, 2.2, 2.0, 2.6]) + effect * (years >= 2004)
    return pd.DataFrame({"partner": np.repeat(["T", "A", "B"], 6), "year": np.tile(years, 3),
                         "imports": np.concatenate([t, a, b])})


def test_conformal_sc_proxy_p_value_by_hand():
    panel = six_period_panel()
    y = panel.pivot(index="year", columns="partner", values="imports")
    # the simplex least-squares proxy with two donors: w = clip(<t - b, a - b> / |a - b|^2, 0, 1)
    d = (y["A"] - y["B"]).to_numpy()
    w = np.clip(((y["T"] - y["B"]).to_numpy() @ d) / (d @ d), 0, 1)
    u = y["T"].to_numpy() - (w * y["A"] + (1 - w) * y["B"]).to_numpy()
    shifts = [[(i + j) % 6 for i in range(6)] for j in range(6)]
    res = su.conformal_inference(panel, "T", 2004, log=False, proxy="sc", grid=np.linspace(-2, 2, 9))
    assert res.n_perms == 6
    assert res.p_value == pytest.approx(hand_p_value(u, 2, shifts))
    assert res.statistic == pytest.approx(np.abs(u[-2:]).sum() / np.sqrt(2))


def test_conformal_did_proxy_p_value_by_hand():
    panel = six_period_panel()
    y = panel.pivot(index="year", columns="partner", values="imports")
    z = (y["T"] - (y["A"] + y["B"]) / 2).to_numpy()
    u = z - z.mean()
    shifts = [[(i + j) % 6 for i in range(6)] for j in range(6)]
    res = su.conformal_inference(panel, "T", 2004, log=False, proxy="did", grid=np.linspace(-2, 2, 9))
    assert res.p_value == pytest.approx(hand_p_value(u, 2, shifts))
    res_iid = su.conformal_inference(panel, "T", 2004, log=False, proxy="did", scheme="iid",
                                     grid=np.linspace(-2, 2, 9))
    assert res_iid.n_perms == 720 and res_iid.p_value == pytest.approx(hand_p_value(u, 2, permutations(range(6))))


@pytest.mark.parametrize("proxy", ["sc", "did"])
def test_conformal_huge_effect_gets_the_smallest_attainable_p(proxy):
    res = su.conformal_inference(six_period_panel(effect=100.0), "T", 2004, log=False, proxy=proxy,
                                 grid=np.linspace(99, 101, 5))
    assert res.p_value == pytest.approx(1 / 6)
    # the test inverted over constant effects accepts the true one
    assert res.grid.set_index("effect").loc[100.0, "in_set"]


def test_conformal_set_covers_a_known_constant_effect():
    panel = flows_panel(8, effect_m=0.3)
    for proxy in ("sc", "did"):
        res = su.conformal_inference(panel, "KOR", 2012, "imports", proxy=proxy, level=0.9,
                                     grid=np.round(np.arange(-1, 1.0001, 0.01), 10))
        assert res.n_perms == 20 and res.ci_low <= 0.3 <= res.ci_high, proxy
        assert res.p_value <= 0.1  # an effect of 0.3 against noise of 0.04
        assert not res.grid.set_index("effect").loc[0.0, "in_set"]


# ------------------------------------------------------------------ Conley-Taber ----


def test_conley_taber_by_hand():
    # SYNTHETIC: control changes (post mean - pre mean) 0.1 x j - mean; treated change = mean + 0.25
    years = np.arange(2000, 2010)
    rows = []
    changes = {f"C{j}": 0.1 * j for j in range(10)}
    mean = np.mean(list(changes.values()))
    for p, c in {**changes, "T": mean + 0.25}.items():
        for y in years:
            rows.append({"partner": p, "year": int(y), "imports": 1.0 + c * (y >= 2005)})
    res = su.conley_taber(pd.DataFrame(rows), "T", 2005, log=False, level=0.8)
    assert res.estimate == pytest.approx(0.25)
    eta = np.array([0.1 * j for j in range(10)]) - mean  # -0.45 .. 0.45
    assert res.p_value == pytest.approx(np.mean(np.abs(eta) >= 0.25))  # 0.6
    # 80%: quantiles 0.1 and 0.9 of eta (inverted cdf: the 1st and 9th of ten, -0.45 and 0.35)
    # -> {alpha: 0.25 - alpha in [-0.45, 0.35]} = [0.25 - 0.35, 0.25 + 0.45]
    assert (res.ci_low, res.ci_high) == pytest.approx((0.25 - 0.35, 0.25 + 0.45))


# ------------------------------------------------------------------ Honest DiD ----


def hand_event_study(b_pre: float, b_post: float, se: float) -> effects.EventStudyResult:
    """SYNTHETIC event study with one lead (event time -2), the reference -1 and one lag (0)."""
    z = stats.norm.ppf(0.975)
    coef = pd.DataFrame({"event_time": [-2, -1, 0], "estimate": [b_pre, 0.0, b_post], "se": [se, 0.0, se]})
    coef["ci_low"], coef["ci_high"] = coef["estimate"] - z * coef["se"], coef["estimate"] + z * coef["se"]
    vcov = pd.DataFrame(np.diag([se**2, se**2]), index=["ev_m2", "ev_p0"], columns=["ev_m2", "ev_p0"])
    return effects.EventStudyResult(coef, {}, 100, 10, "ols", "imports", vcov)


def test_honest_rm_set_is_the_identified_set_with_tiny_variance():
    res = su.honest_did(hand_event_study(-0.1, 0.3, 1e-6), mbar_grid=[0.0, 0.5, 1.0, 2.0], m_grid=[0.0])
    rm = res.relative_magnitude.set_index("M")
    for mbar in (0.5, 1.0, 2.0):
        assert rm.loc[mbar, "ci_low"] == pytest.approx(0.3 - mbar * 0.1, abs=1e-4)
        assert rm.loc[mbar, "ci_high"] == pytest.approx(0.3 + mbar * 0.1, abs=1e-4)
    # the set excludes zero while 0.3 - Mbar 0.1 > 0: breakdown Mbar = 3
    assert res.breakdown_mbar == pytest.approx(3.0, abs=2e-3)
    # smoothness, M = 0: the pre-trend extrapolated linearly, tau = b_post + b_pre = 0.2
    sd = res.smoothness.set_index("M")
    assert sd.loc[0.0, "ci_low"] == pytest.approx(0.2, abs=1e-4) and sd.loc[0.0, "ci_high"] == pytest.approx(0.2, abs=1e-4)


def test_honest_rm_at_zero_is_the_usual_interval():
    res = su.honest_did(hand_event_study(0.05, 0.3, 0.1), mbar_grid=[0.0], m_grid=[0.0], breakdown=False)
    z = stats.norm.ppf(0.975)
    row = res.relative_magnitude.iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.3 - z * 0.1, 0.3 + z * 0.1), abs=1e-8)
    assert res.estimate == pytest.approx(0.3) and res.se == pytest.approx(0.1)


def test_honest_breakdown_requires_the_estimates_sign():
    # b_pre = +0.4: under smoothness M = 0 the extrapolated trend gives tau = 0.1 + 0.4... make it flip:
    # b_pre = -0.4, b_post = 0.1 -> tau(M=0) = -0.3 (significant, but of the other sign)
    res = su.honest_did(hand_event_study(-0.4, 0.1, 1e-4), mbar_grid=[0.0, 0.1], m_grid=[0.0, 0.05])
    sd = res.smoothness.set_index("M")
    assert sd.loc[0.0, "significant"] and not sd.loc[0.0, "same_sign"]
    assert res.breakdown_m == 0.0 and any("other side" in n for n in res.notes)


def test_event_study_converts_to_diff_diff():
    panel = flows_panel(3)
    es = effects.event_study(panel, "KOR", pd.Timestamp("2012-03-15"), "imports", "ols", (-3, 2))
    conv = su.event_study_to_diff_diff(es)
    assert sorted(conv.period_effects) == [-3, -2, 0, 1, 2] and conv.reference_period == -1
    i, j = conv.interaction_indices[-3], conv.interaction_indices[1]
    assert conv.vcov[i, j] == pytest.approx(es.vcov.loc["ev_m3", "ev_p1"])
    assert conv.period_effects[2].effect == pytest.approx(es.coefficients.set_index("event_time").loc[2, "estimate"])
    res = su.honest_did(es, target=2, mbar_grid=[0.0, 1.0], m_grid=[0.0, 0.01], breakdown=False)
    assert res.target == "event time 2" and res.relative_magnitude["ci_low"].iloc[0] == pytest.approx(
        es.coefficients.set_index("event_time").loc[2, "ci_low"], abs=1e-8)


# ------------------------------------------------------------------ bad input ----


@pytest.mark.parametrize("call, parameter", [
    (lambda p: su.synthetic_did(p, "KOR", 2012, "imports"), "treated"),
    (lambda p: su.synthetic_did(p, "T", 2000, "imports", log=False), "entry_year"),
    (lambda p: su.synthetic_did(p, "T", 2020, "imports", log=False), "entry_year"),
    (lambda p: su.synthetic_did(p, "T", 2010, "gdp"), "outcome"),
    (lambda p: su.synthetic_did(p, "T", 2010, level=95), "level"),
    (lambda p: su.synthetic_did(p, "T", 2010, seed=1.5), "seed"),
    (lambda p: su.conformal_inference(p, "T", 2010, proxy="lasso"), "proxy"),
    (lambda p: su.conformal_inference(p, "T", 2010, scheme="blocks"), "scheme"),
    (lambda p: su.synthetic_did(p[p["partner"].isin(["T", "C0"])], "T", 2010, log=False), "panel"),
])
def test_bad_parameters_name_the_parameter_and_valid_values(call, parameter):
    with pytest.raises(ParameterError) as err:
        call(additive_panel(0))
    assert err.value.parameter == parameter and err.value.valid and "valid:" in str(err.value)


def test_bad_data_is_a_data_error():
    panel = additive_panel(0)
    dropped = panel.iloc[3]
    with pytest.raises(DataError, match="unbalanced") as err:
        su.synthetic_did(panel.drop(index=3), "T", 2010, log=False)
    assert err.value.rows == [f"{dropped['partner']} {dropped['year']}"]
    with pytest.raises(DataError, match="non-positive"):
        su.conformal_inference(panel.assign(imports=lambda f: f["imports"] - 100), "T", 2010)
    with pytest.raises(KorusError):
        su.honest_did(hand_event_study(0.1, 0.2, 0.1), target=5)


def test_balance_effect_refuses_unpaired_fits():
    panel = flows_panel(6)
    x = su.synthetic_did(panel, "KOR", 2012, "exports", n_placebo=5)
    m = su.synthetic_did(panel[panel["partner"] != "P00"], "KOR", 2012, "imports", n_placebo=5)
    with pytest.raises(ParameterError, match="cannot be paired"):
        su.sdid_balance_effect(x, m, panel, 2016)
    with pytest.raises(ParameterError) as err:
        su.sdid_balance_effect(x, x, panel, 2016)
    assert err.value.parameter == "imports"


# ------------------------------------------------------------------ Korea (processed data) ----


@pytest.mark.mirror
def test_korea_single_unit_study():
    if not (config.data_processed() / "census_annual.parquet").exists():
        pytest.skip("processed tables not built (make processed)")
    from korus_research import io
    from korus_research.study import Study

    study = Study.build("KOR")
    report = su.study_single_unit(io.read_table("census_annual"), study)
    assert len(report.controls) == 30 and report.compare_year == 2016
    for flow, res in report.sdid.items():
        assert res.outcome == f"log {flow}" and np.isfinite(res.estimate) and res.se > 0
        assert res.effects_by_year["effect"].mean() == pytest.approx(res.estimate, abs=1e-10)
        assert res.unit_weights["weight"].sum() == pytest.approx(1) and len(res.placebo) == 30
    row = report.balance.loc[2016]
    assert row["balance_effect"] == pytest.approx(row["exports_effect"] - row["imports_effect"])
    assert row["balance_effect_ci_low"] < row["balance_effect"] < row["balance_effect_ci_high"]
    for res in report.conformal.values():
        assert res.n_perms == 20 and 1 / 20 <= res.p_value <= 1
    for res in report.honest.values():
        assert res.breakdown_mbar >= 0 and res.breakdown_m >= 0
    tables = report.tables()
    assert set(tables) == {"sdid", "balance", "conformal", "conley_taber", "honest"}
