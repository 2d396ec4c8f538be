"""Gravity: recovery on seeded SYNTHETIC panels, a statsmodels GLM dummy-variable
cross-check, hand-written sandwiches under both conventions, the GE solver's equilibrium
conditions, the OECD unit fix, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from korus_research import gravity, io
from korus_research.errors import DataError


def simulated_gravity(beta: float, seed: int, n: int = 10, years=(2000, 2004, 2008, 2012, 2016)) -> pd.DataFrame:
    """SYNTHETIC structural-gravity panel with a known agreement effect ``beta`` between C0 and C1."""
    rng = np.random.default_rng(seed)
    countries = [f"C{i}" for i in range(n)]
    rows = []
    pair_cost = {(i, j): rng.normal(0, 0.8) for i in countries for j in countries}
    for y in years:
        ex = {c: rng.normal(0, 0.5) for c in countries}
        im = {c: rng.normal(0, 0.5) for c in countries}
        for i in countries:
            for j in countries:
                if i == j:
                    continue
                agreement = {i, j} == {"C0", "C1"} and y >= 2012
                mu = np.exp(5 + ex[i] + im[j] + pair_cost[(i, j)] + beta * agreement)
                rows.append({"exporter": i, "importer": j, "year": y, "trade": rng.poisson(mu),
                             "other": float(rng.random() < 0.1)})
    return pd.DataFrame(rows)


def test_recovers_a_known_agreement_effect():
    panel = simulated_gravity(0.3, seed=1, n=14)
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012, "fta", other=panel["other"])
    res = gravity.ppml(data, "trade", terms)
    row = res.table.set_index("term").loc["fta"]
    assert abs(row["estimate"] - 0.3) < 3 * row["se"]
    assert abs(res.table.set_index("term").loc["other_agreements", "estimate"]) < 0.05


def _small():
    panel = simulated_gravity(0.25, seed=4, n=6, years=(2000, 2008, 2016))
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012, "fta", other=panel["other"])
    data = data.assign(exp_year=data["exporter"] + "_" + data["year"].astype(str),
                       imp_year=data["importer"] + "_" + data["year"].astype(str),
                       pair=data["exporter"] + "_" + data["importer"])
    return data, terms


def test_agrees_with_statsmodels_glm_dummies_and_hand_sandwich():
    data, terms = _small()
    res = gravity.ppml(data, "trade", terms, ssc="stata")
    glm = smf.glm(f"trade ~ {' + '.join(terms)} + C(exp_year) + C(imp_year) + C(pair)", data=data,
                  family=sm.families.Poisson()).fit(tol=1e-13, maxiter=500)
    est = res.table.set_index("term")
    for t in terms:
        assert est.loc[t, "estimate"] == pytest.approx(glm.params[t], abs=1e-6)
    # hand-written pair-clustered sandwich on the full dummy design
    X = glm.model.exog
    mu = glm.mu
    u = data["trade"].to_numpy() - mu
    bread = np.linalg.pinv(X.T @ (X * mu[:, None]))
    meat = np.zeros((X.shape[1], X.shape[1]))
    groups = data["pair"].to_numpy()
    for g in np.unique(groups):
        s = X[groups == g].T @ u[groups == g]
        meat += np.outer(s, s)
    G = len(np.unique(groups))
    V = bread @ meat @ bread
    cols = list(glm.params.index)
    for t in terms:
        i = cols.index(t)
        assert est.loc[t, "se"] == pytest.approx(np.sqrt(G / (G - 1) * V[i, i]), rel=1e-5)
    # fixest convention: also (N-1)/(N-K), K counting the coefficients and the levels of the
    # fixed effects not nested in the clusters, less one per additional dimension (pair
    # effects, nested in the pair clusters, are not counted)
    fx = gravity.ppml(data, "trade", terms, ssc="fixest").table.set_index("term")
    N = len(data)
    K = len(terms) + data["exp_year"].nunique() + data["imp_year"].nunique() - 1
    for t in terms:
        i = cols.index(t)
        assert fx.loc[t, "se"] == pytest.approx(np.sqrt(G / (G - 1) * (N - 1) / (N - K) * V[i, i]), rel=1e-5)


def test_pe_counterfactual_by_hand():
    data, terms = _small()
    res = gravity.ppml(data, "trade", terms)
    out = gravity.pe_counterfactual(data, "trade", res, ("C0", "C1"), terms, [2016])
    b = res.table.set_index("term").loc["fta", "estimate"]
    x01 = data.query("exporter == 'C0' and importer == 'C1' and year == 2016")["trade"].iloc[0]
    x10 = data.query("exporter == 'C1' and importer == 'C0' and year == 2016")["trade"].iloc[0]
    assert out.loc[2016, "balance effect"] == pytest.approx((x01 - x10) * (1 - np.exp(-b)))
    assert out.loc[2016, "active terms"] == "fta"


def test_ge_solver_baseline_and_market_clearing():
    rng = np.random.default_rng(2)
    names = [f"C{i}" for i in range(6)]
    flows = pd.DataFrame(rng.uniform(1, 10, (6, 6)) + np.eye(6) * 50, index=names, columns=names)
    ones = pd.DataFrame(1.0, index=names, columns=names)
    base = gravity.ge_counterfactual(flows, ones)
    np.testing.assert_allclose(base.flows.to_numpy(), flows.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(base.price_change, 1.0, rtol=1e-12)
    tau = ones.copy()
    tau.loc["C0", "C1"] = tau.loc["C1", "C0"] = np.exp(-0.3)
    cf = gravity.ge_counterfactual(flows, tau)
    assert cf.max_clearing_error < 1e-8
    # market clearing written out: output = sales to every destination, expenditure shares fixed
    y_new = cf.price_change * flows.sum(axis=1)
    np.testing.assert_allclose(cf.flows.sum(axis=1), y_new, rtol=1e-8)
    deficit = flows.sum(axis=0) - flows.sum(axis=1)
    np.testing.assert_allclose(cf.flows.sum(axis=0), y_new + deficit, rtol=1e-8)
    assert cf.flows.to_numpy().sum() == pytest.approx(flows.to_numpy().sum(), rel=1e-10)
    assert cf.flows.loc["C0", "C1"] < flows.loc["C0", "C1"]  # higher costs, less trade
    assert cf.real_income_change["C0"] < 1 and cf.real_income_change["C1"] < 1


def test_bad_input():
    panel = simulated_gravity(0.0, seed=3, n=4, years=(2008, 2016))
    with pytest.raises(DataError, match="duplicated pair-year; rows: C0/C1/2008"):
        gravity.ppml(pd.concat([panel, panel.iloc[[0]]]), "trade", [])
    neg = panel.copy()
    neg.loc[0, "trade"] = -1
    with pytest.raises(DataError, match="negative or missing trade flow; rows: C0/C1/2008"):
        gravity.ppml(neg, "trade", [])
    with pytest.raises(gravity.GravityError, match="no flows between C0 and XX"):
        gravity.add_agreement_terms(panel, ("C0", "XX"), 2012)
    with pytest.raises(gravity.GravityError, match="does not vary"):
        gravity.add_agreement_terms(panel, ("C0", "C1"), 2030)
    # a pair with only zeros is reported and dropped, not hidden: one pair, its two rows
    zeros = panel.copy()
    zeros.loc[(zeros["exporter"] == "C2") & (zeros["importer"] == "C3"), "trade"] = 0
    data, terms = gravity.add_agreement_terms(zeros, ("C0", "C1"), 2012)
    res = gravity.ppml(data, "trade", terms)
    assert res.info["pairs with only zeros (dropped)"] == 1
    assert res.info["rows of pairs with only zeros (dropped)"] == 2
    # with symmetric pair effects both directions are one pair: zero both ways, still one pair
    zeros = simulated_gravity(0.0, seed=3, n=6, years=(2004, 2008, 2016))
    zeros.loc[zeros["exporter"].isin(["C2", "C3"]) & zeros["importer"].isin(["C2", "C3"]), "trade"] = 0
    data, terms = gravity.add_agreement_terms(zeros, ("C0", "C1"), 2012)
    res = gravity.ppml(data, "trade", terms, fixed_effects=[("exporter", "year"), ("importer", "year"), "pair_sym"])
    assert res.info["pairs with only zeros (dropped)"] == 1
    assert res.info["rows of pairs with only zeros (dropped)"] == 6
    # names that are neither columns nor pair ids, and three cluster dimensions, are refused
    with pytest.raises(gravity.GravityError, match="'sector' is neither a column"):
        gravity.ppml(data, "trade", terms, fixed_effects=[("exporter", "sector")])
    with pytest.raises(gravity.GravityError, match="clusters by one or two"):
        gravity.ppml(data, "trade", terms, cluster_column=["exporter", "importer", "year"])
    with pytest.raises(gravity.GravityError, match="choose one of"):
        gravity.ppml(data, "trade", terms, fixed_effects="five-way")


def test_real_panels():
    dta = io.read_table("gravity_dta")
    assert dta.loc[dta["agreement_id"] == 211, ["exporter", "importer"]].apply(frozenset, axis=1).eq(
        frozenset({"KOR", "USA"})).all()
    oecd = io.read_table("gravity_oecd")
    # after the unit fix, domestic sales exceed total exports (both in $ thousand)
    dom = oecd[oecd["exporter"] == oecd["importer"]].set_index(["exporter", "year"])["trade_usd_th"]
    intl = oecd[oecd["exporter"] != oecd["importer"]].groupby(["exporter", "year"])["trade_usd_th"].sum()
    share = (dom / (dom + intl)).dropna()
    assert share.loc[("USA", 2015)] > 0.8 and share.loc[("KOR", 2015)] > 0.5
    assert share.median() > 0.5  # without the fix the domestic share would be about 1000 times smaller
    wiod = io.read_table("gravity_wiod")
    assert wiod.query("exporter == 'KOR' and importer == 'USA' and year == 2014")["fta"].iloc[0] == 1
    dist = io.read_table("cepii_dist")
    assert dist.query("exporter == 'KOR' and importer == 'USA'")["dist_km"].iloc[0] > 10000


def test_agreement_id_absent_or_not_bilateral():
    dta = io.read_table("gravity_dta")
    assert gravity.members_of_agreement(dta, 211) == (("KOR", "USA"), 2012)
    with pytest.raises(gravity.GravityError, match="agreement id 999999 is absent"):
        gravity.members_of_agreement(dta, 999999)
    plurilateral = int(dta.loc[dta["agreement"].str.contains("European", na=False), "agreement_id"].iloc[0])
    with pytest.raises(gravity.GravityError, match="a bilateral agreement is needed"):
        gravity.members_of_agreement(dta, plurilateral)


def test_terms_outside_the_pairs_years():
    panel = simulated_gravity(0.0, seed=5, n=4, years=(2008, 2012, 2016))
    # a lag beyond the panel's last year is left out, not estimated as a constant
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2016, lags=(4,), lead=4)
    assert "agreement_lag4" not in terms and data.attrs["dropped_terms"] == ["agreement_lag4"]
    assert "agreement_lead4" in terms
    # with pair effects, an agreement in force over the whole panel cannot be identified
    with pytest.raises(gravity.GravityError, match="pair effect absorbs it"):
        gravity.add_agreement_terms(panel, ("C0", "C1"), 2005, within_pair=True)
    # without pair effects (two-way) the same term varies across pairs and is kept
    _, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2005)
    assert terms == ["agreement"]


def test_agreements_of_a_pair_include_plurilateral_ones():
    dta = io.read_table("gravity_dta")
    kor = gravity.agreements_of_pair(dta, "USA", "KOR")
    assert kor.iloc[0].to_dict() == {"agreement_id": 211, "first_year": 2012, "members": 2}
    mex = gravity.agreements_of_pair(dta, "USA", "MEX")
    assert len(mex) and (mex["members"] > 2).any()  # NAFTA is plurilateral
    assert gravity.agreements_of_pair(dta, "USA", "CHN").empty


def _guide_panel(mirror, name: str) -> pd.DataFrame:
    """The Yotov et al. (2016) guide's teaching data, 1986-2006 every 4 years."""
    path = mirror / "published" / "yotov2016" / name
    if not path.exists():
        pytest.skip(f"{path} not in the mirror")
    d = pd.read_stata(path)
    d = d[d["year"].isin([1986, 1990, 1994, 1998, 2002, 2006])].copy()
    d["year"] = d["year"].astype(int)
    for c in [c for c in ("CNTG", "LANG", "CLNY", "RTA") if c in d]:
        d[c] = d[c].astype(float)
    return d


def test_reproduces_yotov_et_al_2016_table_1_ppml(mirror):
    # published: Table 1, PPML column (international flows, exporter-year and importer-year
    # effects, errors clustered by the symmetric pair_id), N = 28,152 (mirror README)
    d = _guide_panel(mirror, "Chapter1Application1.dta")
    d = d[d["exporter"] != d["importer"]].assign(ln_DIST=lambda f: np.log(f["DIST"]))
    res = gravity.ppml(d, "trade", [], fixed_effects="two-way", covariates=["ln_DIST", "CNTG", "LANG", "CLNY"],
                       errors="cluster", cluster_column="pair_id")
    est = res.table.set_index("term")
    assert res.info["used"] == 28152 and res.info["clusters"] == "pair_id: 2346"
    for term, published in {"ln_DIST": -0.841, "CNTG": 0.437, "LANG": 0.247, "CLNY": -0.222}.items():
        assert est.loc[term, "estimate"] == pytest.approx(published, abs=5e-4), term
    # standard errors clustered by pair_id under Stata's ppml convention (G/(G-1) only, the one the
    # chapter-2 log pins to 7 digits below). The mirror does not carry Table 1's printed standard
    # errors; these are R capybara's 4-digit reproduction of the table (pachadotdev/tradepolicy,
    # 01-traditional-gravity), an independent implementation
    for term, se in {"ln_DIST": 0.0317, "CNTG": 0.0832, "LANG": 0.0765, "CLNY": 0.1162}.items():
        assert est.loc[term, "se"] == pytest.approx(se, abs=5e-5), term
    # the symmetric pair_id of the guide is our "symmetric" pair kind, so clustering by pair_sym is the same
    assert d.groupby(gravity.pair_ids(d, "symmetric"))["pair_id"].nunique().max() == 1
    sym = gravity.ppml(d, "trade", [], fixed_effects="two-way", covariates=["ln_DIST", "CNTG", "LANG", "CLNY"],
                       cluster_column="pair_sym")
    np.testing.assert_allclose(sym.table["se"], res.table["se"], rtol=1e-12)


RTA_LOG = "RTAsEffects.log"


def _log_text(mirror) -> str:
    path = mirror / "published" / "yotov2016" / RTA_LOG
    if not path.exists():
        pytest.skip(f"{path} not in the mirror")
    return path.read_text(errors="replace")


def _log_block(text: str, command: str, end: str) -> str:
    start = text.index(command)
    return text[start:text.index(end, start)]


def _log_coefficients(block: str, names) -> dict[str, tuple[float, float]]:
    """Coefficient and standard error of each name in a Stata coefficient table."""
    out = {}
    for name in names:
        m = re.search(rf"^\s*{name} \|\s+(-?[\d.]+)\s+([\d.]+)", block, re.M)
        out[name] = (float(m.group(1)), float(m.group(2)))
    return out


@pytest.fixture(scope="module")
def guide_stage_one(mirror):
    """Stage 1 of the guide's chapter-2 application: RTA with exporter-year, importer-year and pair
    effects, one pair effect shared by every intra-national flow, semi-robust errors."""
    d = _guide_panel(mirror, "Chapter2Application2.dta")
    d["pair"] = gravity.pair_ids(d, "symmetric, shared domestic")
    return d, gravity.ppml(d, "trade", ["RTA"], pair_column="pair", errors="hetero", ssc="stata")


def test_reproduces_the_guides_rta_effect_with_shared_domestic_pair_effects(mirror, guide_stage_one):
    # published (RTAsEffects.log): RTA 0.5571853, s.e. 0.055771, N = 28,482 (84 observations of zero pairs
    # excluded). The log states its errors: the RTA regression is "Semirobust" with no cluster() option
    log = _log_text(mirror)
    block = _log_block(log, "ppml trade PAIR_FE1", "estimate store gravity_panel")
    assert "cluster(" not in block.split("note:")[0] and "adjusted for" not in block and "Semirobust" in block
    (b, se), = _log_coefficients(block, ["RTA"]).values()
    n = int(re.search(r"Number of observations: (\d+)", block).group(1))
    excluded = int(re.search(r"Number of observations excluded: (\d+)", block).group(1))
    d, res = guide_stage_one
    row = res.table.set_index("term").loc["RTA"]
    assert (b, se, n, excluded) == (0.5571853, 0.055771, 28482, 84)
    assert row["estimate"] == pytest.approx(b, abs=1e-6)
    assert row["se"] == pytest.approx(se, abs=2e-6)
    # 84 rows are 7 symmetric pairs with only zeros (2 directions x 6 years): counted as pairs and rows
    assert res.info["used"] == n and res.info["rows of pairs with only zeros (dropped)"] == excluded
    assert res.info["pairs with only zeros (dropped)"] == 7
    # ppml's R-squared: the squared correlation of the flows and the fitted flows
    r2 = float(re.search(r"R-squared: ([\d.]+)", block).group(1))
    assert res.info["pseudo_r2"] == pytest.approx(r2, abs=1e-8)
    with pytest.raises(gravity.GravityError, match="choose 'cluster' or 'hetero'"):
        gravity.ppml(d, "trade", ["RTA"], errors="robust")


def test_reproduces_the_guides_clustered_second_stage(mirror, guide_stage_one):
    # published (RTAsEffects.log, stage 2 of the two-stage trade-cost recovery): the 1994 pair effects
    # of stage 1 (relative to the shared domestic effect), exp(gamma_ij), regressed by PPML on
    # exporter and importer effects and gravity variables, "cluster(pair_id)": N = 4,678,
    # 2,339 clusters, coefficients and standard errors to 7 digits
    log = _log_text(mirror)
    block = _log_block(log, "ppml tij EXPORTER_FE*", "estimates store gravity_est")
    assert "cluster(pair_id)" in block
    clusters = int(re.search(r"adjusted for (\d+) clusters in pair_id", block).group(1))
    n = int(re.search(r"Number of observations: (\d+)", block).group(1))
    published = _log_coefficients(block, ["ln_DIST", "CNTG", "LANG", "CLNY"])
    d, stage_one = guide_stage_one
    gamma = gravity.estimated_fixed_effects(stage_one, "pair")
    gamma = gamma - gamma["domestic"]
    s = d[(d["year"] == 1994) & (d["exporter"] != d["importer"])].copy()
    s["tij"] = np.exp(s["pair"].map(gamma))
    s = s[s["tij"].notna()].assign(ln_DIST=lambda f: np.log(f["DIST"]))
    res = gravity.ppml(s, "tij", [], fixed_effects=["exporter", "importer"],
                       covariates=["ln_DIST", "CNTG", "LANG", "CLNY"], cluster_column="pair_id", ssc="stata")
    est = res.table.set_index("term")
    assert (res.info["used"], res.info["clusters"]) == (n, f"pair_id: {clusters}") == (4678, "pair_id: 2339")
    assert res.info["pseudo_r2"] == pytest.approx(float(re.search(r"R-squared: ([\d.]+)", block).group(1)), abs=1e-7)
    for term, (b, se) in published.items():
        assert est.loc[term, "estimate"] == pytest.approx(b, abs=3e-7), term
        assert est.loc[term, "se"] == pytest.approx(se, abs=3e-7), term
    # the fixest convention ((N-1)/(N-K) as well) does not reproduce Stata's ppml
    fx = gravity.ppml(s, "tij", [], fixed_effects=["exporter", "importer"],
                      covariates=["ln_DIST", "CNTG", "LANG", "CLNY"], cluster_column="pair_id", ssc="fixest")
    assert fx.table.set_index("term").loc["ln_DIST", "se"] > published["ln_DIST"][1] + 1e-4


def _ge_gravity_published(mirror) -> pd.DataFrame:
    import pyreadr

    path = mirror / "published" / "ge_gravity_stata_results_TradeData0014.rda"
    if not path.exists():
        pytest.skip(f"{path} not in the mirror")
    return pyreadr.read_r(str(path))["TradeData0014_Results"]


def test_partial_effect_matches_stata_ge_gravity_example(mirror):
    # published: PPML with exporter-year, importer-year and pair effects on international flows,
    # eu_enlargement + other_fta: partial effect 0.224249
    r = _ge_gravity_published(mirror)
    intl = r[r["exporter"] != r["importer"]].assign(year=lambda f: f["year"].astype(int))
    res = gravity.ppml(intl, "trade", ["eu_enlargement", "other_fta"])
    assert res.table.set_index("term").loc["eu_enlargement", "estimate"] == pytest.approx(0.224249, abs=1e-6)
    assert r.loc[r["new_eu_pair"] == 1, "eu_effect"].round(6).eq(0.224249).all()


@pytest.mark.parametrize("imbalances, welfare, flows", [("additive", "w_eu", "X_eu"),
                                                        ("multiplicative", "w_mult", "X_mult")])
def test_ge_with_imbalances_reproduces_stata_ge_gravity(mirror, imbalances, welfare, flows):
    # published: Stata ge_gravity, 2000 baseline, theta = 4, the EU enlargements' partial effect
    r = _ge_gravity_published(mirror)
    d = r[r["year"] == 2000]
    res = gravity.ge_with_imbalances(d.pivot(index="exporter", columns="importer", values="trade"),
                                     d.pivot(index="exporter", columns="importer", values="eu_effect"),
                                     theta=4, imbalances=imbalances)
    published_w = d.groupby("exporter")[welfare].first()
    published_x = d.pivot(index="exporter", columns="importer", values=flows)
    # the published columns are single precision (about 7 digits)
    assert np.max(np.abs(res.welfare / published_w - 1)) < 1e-6
    assert np.nanmax(np.abs((res.flows / published_x - 1).to_numpy())) < 1e-6
    if imbalances == "multiplicative":
        assert np.allclose(res.welfare, res.real_wage)
    else:
        assert res.max_clearing_error < 1e-10
        assert not np.allclose(res.welfare, res.real_wage)  # with deficits, welfare is not the real wage
    # no change in costs: the baseline back
    zero = gravity.ge_with_imbalances(res.flows * 0 + d.pivot(index="exporter", columns="importer", values="trade"),
                                      res.flows * 0, theta=4, imbalances=imbalances)
    assert np.allclose(zero.welfare, 1) and np.allclose(zero.flows, d.pivot(index="exporter", columns="importer",
                                                                              values="trade"))


def test_directional_agreement_effects_are_estimated_not_imposed():
    # SYNTHETIC panel: the agreement raises C0 -> C1 flows by 0.6 and C1 -> C0 flows by 0.1
    rng = np.random.default_rng(11)
    countries = [f"C{i}" for i in range(8)]
    pair_cost = {(i, j): rng.normal(0, 0.5) for i in countries for j in countries}
    rows = []
    for y in (2000, 2004, 2008, 2012, 2016):
        ex = {c: rng.normal(0, 0.3) for c in countries}
        im = {c: rng.normal(0, 0.3) for c in countries}
        for i in countries:
            for j in countries:
                if i != j:
                    effect = 0.6 if (i, j) == ("C0", "C1") else (0.1 if (i, j) == ("C1", "C0") else 0.0)
                    mu = np.exp(8 + ex[i] + im[j] + pair_cost[(i, j)] + effect * (y >= 2012))
                    rows.append({"exporter": i, "importer": j, "year": y, "trade": float(rng.poisson(mu))})
    panel = pd.DataFrame(rows)
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012)
    data, terms = gravity.split_by_direction(data, terms, ("C0", "C1"))
    assert terms == ["agreement_C0_to_C1", "agreement_C1_to_C0"]
    res = gravity.ppml(data, "trade", terms)
    est = res.table.set_index("term")["estimate"]
    assert est["agreement_C0_to_C1"] == pytest.approx(0.6, abs=0.03)
    assert est["agreement_C1_to_C0"] == pytest.approx(0.1, abs=0.03)
    pe = gravity.pe_counterfactual(data, "trade", res, ("C0", "C1"), terms, [2016])
    row = pe.loc[2016]
    x01 = data.query("exporter == 'C0' and importer == 'C1' and year == 2016")["trade"].iloc[0]
    x10 = data.query("exporter == 'C1' and importer == 'C0' and year == 2016")["trade"].iloc[0]
    by_hand = x01 * (1 - np.exp(-est["agreement_C0_to_C1"])) - x10 * (1 - np.exp(-est["agreement_C1_to_C0"]))
    assert row["balance effect"] == pytest.approx(by_hand, rel=1e-12)
    assert row["exports effect"] == pytest.approx(x01 * (1 - np.exp(-est["agreement_C0_to_C1"])), rel=1e-12)
    assert row["balance effect ci_low"] < by_hand < row["balance effect ci_high"]


# --------------------------------------------------------------- the general interface -----


def _dummy_glm(formula: str, data: pd.DataFrame, keep: list[str]):
    """A Poisson GLM (statsmodels) on the full dummy-variable design reduced to full rank (pivoted QR,
    the ``keep`` columns first), so that its IRLS converges; returns the fit and the column names."""
    design = smf.glm(formula, data=data, family=sm.families.Poisson())
    X, names = design.exog, list(design.exog_names)
    order = [names.index(k) for k in keep] + [i for i, n in enumerate(names) if n not in keep]
    X = X[:, order]
    _, r, pivots = scipy.linalg.qr(X, mode="economic", pivoting=True)
    rank = int((np.abs(np.diag(r)) > 1e-9 * np.abs(r[0, 0])).sum())
    cols = sorted(pivots[:rank])
    assert all(i in cols for i in range(len(keep)))  # the terms are identified
    fit = sm.GLM(design.endog, X[:, cols], family=sm.families.Poisson()).fit(tol=1e-13, maxiter=500)
    assert fit.converged
    return fit, [names[order[i]] for i in cols]


def _cluster_meat(X: np.ndarray, u: np.ndarray, groups: np.ndarray) -> np.ndarray:
    scores = pd.DataFrame(X * u[:, None]).groupby(groups).sum().to_numpy()
    return scores.T @ scores


def simulated_product_panel(seed: int, n: int = 6, products=("P1", "P2"), years=(2006, 2008, 2010, 2012)):
    """SYNTHETIC exporter x importer x product x year panel: product-level country-year and
    pair-product costs, an agreement C0-C1 from 2010 and a randomly timed other agreement."""
    rng = np.random.default_rng(seed)
    countries = [f"C{i}" for i in range(n)]
    pairs = [(i, j) for i in countries for j in countries if i != j]
    cost = {(i, j, k): rng.normal(0, 0.6) for (i, j) in pairs for k in products}
    other_from = {(i, j): rng.choice([2008, 2012, 9999]) for (i, j) in pairs}
    rows = []
    for y in years:
        ex = {(c, k): rng.normal(0, 0.4) for c in countries for k in products}
        im = {(c, k): rng.normal(0, 0.4) for c in countries for k in products}
        for (i, j) in pairs:
            fta = float({i, j} == {"C0", "C1"} and y >= 2010)
            other = float(y >= other_from[(i, j)] and not fta)
            for k in products:
                mu = np.exp(4 + ex[(i, k)] + im[(j, k)] + cost[(i, j, k)] + 0.4 * fta + 0.1 * other)
                rows.append({"exporter": i, "importer": j, "product": k, "year": y, "trade": float(rng.poisson(mu)),
                             "fta": fta, "other": other})
    return pd.DataFrame(rows)


def test_four_way_product_effects_match_a_dummy_variable_glm():
    # SYNTHETIC product panel: exporter-product-year, importer-product-year and pair-product effects
    d = simulated_product_panel(7)
    res = gravity.ppml(d, "trade", ["fta", "other"], fixed_effects="four-way")
    assert res.info["exporter-product-year effects"] == 6 * 2 * 4 and res.info["pair-product effects"] == 30 * 2
    assert res.info["clusters"] == "pair: 30"  # errors clustered by pair (all products of a pair) by default
    g = d.assign(epy=d["exporter"] + d["product"] + d["year"].astype(str),
                 ipy=d["importer"] + d["product"] + d["year"].astype(str),
                 pp=d["exporter"] + d["importer"] + d["product"])
    glm, cols = _dummy_glm("trade ~ fta + other + C(epy) + C(ipy) + C(pp)", g, ["fta", "other"])
    est = res.table.set_index("term")
    for t in ("fta", "other"):
        assert est.loc[t, "estimate"] == pytest.approx(glm.params[cols.index(t)], abs=1e-6)
    # hand pair-clustered sandwich on the dummy design (Stata convention: G/(G-1))
    X, mu = glm.model.exog, glm.mu
    u = g["trade"].to_numpy() - mu
    bread = np.linalg.inv(X.T @ (X * mu[:, None]))
    pair = (g["exporter"] + g["importer"]).to_numpy()
    G = len(np.unique(pair))
    V = G / (G - 1) * bread @ _cluster_meat(X, u, pair) @ bread
    for t in ("fta", "other"):
        assert est.loc[t, "se"] == pytest.approx(np.sqrt(V[cols.index(t), cols.index(t)]), rel=1e-5)
    # the same model written as a list of dimensions
    same = gravity.ppml(d, "trade", ["fta", "other"], fixed_effects=[("exporter", "product", "year"),
                                                                      ("importer", "product", "year"),
                                                                      ("exporter", "importer", "product")])
    np.testing.assert_allclose(same.table["estimate"], res.table["estimate"], atol=1e-9)
    with pytest.raises(DataError, match="duplicated pair-year"):
        gravity.ppml(d, "trade", ["fta"], fixed_effects=[("exporter", "year"), ("importer", "year")])


def test_two_way_clustering_matches_a_hand_sandwich():
    # SYNTHETIC panel; errors clustered by exporter and by importer: V = V_exp + V_imp - V_exp&imp,
    # every part with G/(G-1) of the smaller G (pyfixest's and reghdfe's convention)
    panel = simulated_gravity(0.25, seed=9, n=9, years=(2000, 2004, 2008, 2012, 2016))
    data, terms = gravity.add_agreement_terms(panel, ("C0", "C1"), 2012, "fta", other=panel["other"])
    res = gravity.ppml(data, "trade", terms, cluster_column=["exporter", "importer"])
    assert res.info["clusters"] == "exporter: 9, importer: 9"
    g = data.assign(ey=data["exporter"] + data["year"].astype(str), iy=data["importer"] + data["year"].astype(str),
                    pr=data["exporter"] + data["importer"])
    glm, cols = _dummy_glm(f"trade ~ {' + '.join(terms)} + C(ey) + C(iy) + C(pr)", g, terms)
    X, mu = glm.model.exog, glm.mu
    u = g["trade"].to_numpy() - mu
    bread = np.linalg.inv(X.T @ (X * mu[:, None]))
    e, i = g["exporter"].to_numpy(), g["importer"].to_numpy()
    meat = _cluster_meat(X, u, e) + _cluster_meat(X, u, i) - _cluster_meat(X, u, np.char.add(e, i))
    V = 9 / 8 * bread @ meat @ bread
    est = res.table.set_index("term")
    for t in terms:
        assert est.loc[t, "estimate"] == pytest.approx(glm.params[cols.index(t)], abs=1e-6)
        assert est.loc[t, "se"] == pytest.approx(np.sqrt(V[cols.index(t), cols.index(t)]), rel=1e-5)
    # a trivial second dimension (one cluster per observation) gives back one-way pair clustering
    one_way = gravity.ppml(data, "trade", terms)
    trivial = gravity.ppml(data.assign(row=np.arange(len(data))), "trade", terms, cluster_column=["pair", "row"])
    np.testing.assert_allclose(trivial.table["se"], one_way.table["se"], rtol=1e-9)


def test_one_term_per_agreement_recovers_heterogeneous_effects():
    # SYNTHETIC panel: agreement 1 (C0-C1, C0-C2) raises trade by 0.5, agreement 2 (C3-C4) lowers it by
    # 0.2, agreement 3 (C5-C6) is in force in every year (absorbed by the pair effects)
    rng = np.random.default_rng(21)
    countries = [f"C{i}" for i in range(10)]
    cost = {(i, j): rng.normal(0, 0.5) for i in countries for j in countries}
    members = {1: ({"C0", "C1"}, {"C0", "C2"}), 2: ({"C3", "C4"},), 3: ({"C5", "C6"},)}
    start = {1: 2008, 2: 2012, 3: 1990}
    effect = {1: 0.5, 2: -0.2, 3: 0.3}
    rows = []
    for y in (2000, 2004, 2008, 2012, 2016):
        ex = {c: rng.normal(0, 0.3) for c in countries}
        im = {c: rng.normal(0, 0.3) for c in countries}
        for i in countries:
            for j in countries:
                if i != j:
                    aid = next((a for a, ps in members.items() if {i, j} in ps and y >= start[a]), 0)
                    mu = np.exp(9 + ex[i] + im[j] + cost[(i, j)] + effect.get(aid, 0.0))
                    rows.append({"exporter": i, "importer": j, "year": y, "trade": float(rng.poisson(mu)),
                                 "agreement_id": aid})
    panel = pd.DataFrame(rows)
    data, terms = gravity.add_agreement_id_terms(panel, ids=[1, 2, 3], labels={1: "first"})
    assert terms == ["first", "fta_2"] and data.attrs["dropped_terms"] == ["fta_3"]
    assert data.attrs["agreement names"] == {"first": 1, "fta_2": 2}
    est = gravity.ppml(data, "trade", terms).table.set_index("term")["estimate"]
    assert est["first"] == pytest.approx(0.5, abs=0.02) and est["fta_2"] == pytest.approx(-0.2, abs=0.02)
    # agreement 2 pooled as "other", agreement 1's C0-C1 rows excluded (the study's own term)
    own = ((panel["exporter"].isin(["C0", "C1"])) & (panel["importer"].isin(["C0", "C1"]))).astype(float)
    data, terms = gravity.add_agreement_id_terms(panel, ids=[1], exclude=own)
    assert terms == ["fta_1", "other_agreements"]
    assert data.loc[own > 0, "fta_1"].sum() == 0 and data["other_agreements"].sum() > 0
    with pytest.raises(gravity.GravityError, match=r"agreement id\(s\) \[7\] not in force"):
        gravity.add_agreement_id_terms(panel, ids=[7])


def test_phase_in_terms_at_the_panels_frequency():
    waves = simulated_gravity(0.0, seed=5, n=4, years=(2000, 2004, 2008, 2012, 2016))
    assert gravity.panel_periods(waves) == ([2000, 2004, 2008, 2012, 2016], "waves")
    data, terms = gravity.add_phase_in_terms(waves, ("C0", "C1"), 2010, lags=1, leads=3)
    # entry 2010 -> the 2012 wave; a lag of one wave from 2016; leads of one and two waves (2008, 2004);
    # a third lead (2000) would leave no earlier wave as reference with pair effects
    assert terms == ["agreement", "agreement_lag1w", "agreement_lead1w", "agreement_lead2w"]
    assert data.attrs["dropped_terms"] == ["agreement_lead3w"] and data.attrs["entry period"] == 2012
    c01 = data[(data["exporter"] == "C0") & (data["importer"] == "C1")].set_index("year")
    assert c01["agreement"].tolist() == [0, 0, 0, 1, 1] and c01["agreement_lag1w"].tolist() == [0, 0, 0, 0, 1]
    assert c01["agreement_lead1w"].tolist() == [0, 0, 1, 0, 0] and c01["agreement_lead2w"].tolist() == [0, 1, 0, 0, 0]
    annual = simulated_gravity(0.0, seed=6, n=4, years=tuple(range(2009, 2016)))
    data, terms = gravity.add_phase_in_terms(annual, ("C0", "C1"), 2012, lags=5, leads=1)
    assert terms == ["agreement", "agreement_lag1y", "agreement_lag2y", "agreement_lag3y", "agreement_lead1y"]
    assert data.attrs["frequency"] == "annual" and data.attrs["dropped_terms"] == ["agreement_lag4y", "agreement_lag5y"]
    with pytest.raises(gravity.GravityError, match="pair effect absorbs it"):
        gravity.add_phase_in_terms(annual, ("C0", "C1"), 2000)


def test_the_joint_lead_test_is_the_wald_statistic():
    # SYNTHETIC panel with no pre-trend: the leads' joint test is b' V^-1 b, chi-squared
    panel = simulated_gravity(0.3, seed=12, n=10, years=(2000, 2004, 2008, 2012, 2016))
    data, terms = gravity.add_phase_in_terms(panel, ("C0", "C1"), 2012, leads=2)
    data, terms = gravity.split_by_direction(data, terms, ("C0", "C1"))
    leads = [t for t in terms if "_lead" in t]
    assert len(leads) == 4
    # heteroskedasticity-robust: each directional lead is identified by one pair, and errors clustered
    # by pair would rest on that one cluster (one treated cluster: MacKinnon and Webb 2017)
    res = gravity.ppml(data, "trade", terms, errors="hetero")
    test = gravity.wald_test(res, leads)
    b = res.table.set_index("term").loc[leads, "estimate"].to_numpy()
    V = res.vcov.loc[leads, leads].to_numpy()
    stat = float(b @ np.linalg.solve(V, b))
    assert test["statistic"] == pytest.approx(stat, rel=1e-8) and test["df"] == 4
    assert test["p_value"] == pytest.approx(stats.chi2.sf(stat, 4), rel=1e-8)
    status, detail = gravity.lead_diagnostics(gravity.GravityResult(res.table, res.info, res.vcov, res.fit,
                                                                    tests={"leads": test}))
    assert status == ("passed" if test["p_value"] >= 0.05 else "failed") and f"p = {test['p_value']:.3f}" in detail
    assert gravity.lead_diagnostics(res)[0] == "not tested"


def simulated_world(seed: int, n: int = 7, years=(2000, 2004, 2008, 2012), effects=(0.4, 0.1)) -> pd.DataFrame:
    """SYNTHETIC world with domestic flows (for GE): C0 -> C1 rises by effects[0] and C1 -> C0 by
    effects[1] from 2008; other agreements at random."""
    rng = np.random.default_rng(seed)
    countries = [f"C{i}" for i in range(n)]
    cost = {}
    for i in countries:
        for j in countries:
            cost[(i, j)] = 2.5 if i == j else cost[(j, i)] if (j, i) in cost else rng.normal(0, 0.5)  # symmetric
    other = {(i, j): float(rng.random() < 0.2) for i in countries for j in countries}
    rows = []
    for y in years:
        ex = {c: rng.normal(0, 0.2) for c in countries}
        im = {c: rng.normal(0, 0.2) for c in countries}
        for i in countries:
            for j in countries:
                effect = effects[0] if (i, j) == ("C0", "C1") else effects[1] if (i, j) == ("C1", "C0") else 0.0
                mu = np.exp(6 + ex[i] + im[j] + cost[(i, j)] + effect * (y >= 2008))
                rows.append({"exporter": i, "importer": j, "year": y, "trade": float(rng.poisson(mu)),
                             "fta": other[(i, j)] * (y >= 2004) * (i != j)})
    return pd.DataFrame(rows)


def test_a_model_of_the_general_interface():
    # SYNTHETIC world: symmetric pair effects with one shared domestic effect, errors clustered by
    # exporter and importer, directional agreement terms with a lead, border-by-year terms
    world = simulated_world(3, n=9)
    model = gravity.Model("synthetic", "none", "trade", 1.0, fixed_effects=(("exporter", "year"), ("importer", "year"),
                                                                            "pair_sym_dom"),
                          cluster=("exporter", "importer"), other="fta", leads=1, border_by_year=True, directional=True)
    res, data, terms = gravity.estimate_model(model, world, ("C0", "C1"), 2008)
    assert data.attrs["switch_off"] == ["agreement_C0_to_C1", "agreement_C1_to_C0"]
    assert data.attrs["lead_terms"] == ["agreement_lead1w_C0_to_C1", "agreement_lead1w_C1_to_C0"]
    assert res.info["pair_sym_dom effects"] == 9 * 8 // 2 + 1 and res.info["clusters"] == "exporter: 9, importer: 9"
    est = res.table.set_index("term")["estimate"]
    assert est["agreement_C0_to_C1"] == pytest.approx(0.4, abs=0.05)
    assert est["agreement_C1_to_C0"] == pytest.approx(0.1, abs=0.05)
    assert set(res.tests["leads"]["terms"]) == set(data.attrs["lead_terms"])
    table = gravity.model_table({"m": (res, data, terms)}, {"m": model})
    assert list(table.index.get_level_values("term")) == ["agreement_C0_to_C1", "agreement_C1_to_C0",
                                                          "agreement_lead1w_C0_to_C1", "agreement_lead1w_C1_to_C0",
                                                          "other_agreements"]


def test_ge_bootstrap_is_reproducible_and_covers_the_point_estimate():
    # SYNTHETIC world with domestic flows; directional terms re-estimated on pairs drawn with replacement
    world = simulated_world(5)
    model = gravity.Model("synthetic", "none", "trade", 1.0, other="fta", directional=True)
    data, terms = gravity.build_model_data(model, world, ("C0", "C1"), 2008)
    kwargs = dict(draws=8, theta=4.0, level=0.9)
    first = gravity.ge_bootstrap(data, "trade", terms, ("C0", "C1"), 2012, data.attrs["switch_off"], seed=3, **kwargs)
    again = gravity.ge_bootstrap(data, "trade", terms, ("C0", "C1"), 2012, data.attrs["switch_off"], seed=3, **kwargs)
    other = gravity.ge_bootstrap(data, "trade", terms, ("C0", "C1"), 2012, data.attrs["switch_off"], seed=4, **kwargs)
    pd.testing.assert_frame_equal(first.draws, again.draws)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert not first.draws.equals(other.draws)
    assert first.info["draws used"] == 8 and "the 1 pair(s) with the agreement's terms kept once" in first.info["resampled"]
    table = first.table
    assert ((table["low"] <= table["estimate"]) & (table["estimate"] <= table["high"])).all()
    assert (table["low"] < table["high"]).all()
    # the point estimate is the GE of the full-sample coefficients; removing a trade-raising agreement
    # lowers the members' bilateral flows, so the agreement's effect on them is positive
    coef = gravity.ppml(data, "trade", terms).table.set_index("term")["estimate"]
    point = gravity.ge_agreement_effect(data, "trade", coef, ("C0", "C1"), 2012, data.attrs["switch_off"], theta=4.0)
    pd.testing.assert_series_equal(point, table["estimate"], check_names=False, rtol=1e-8)
    assert table.loc["C0 exports to C1, %", "estimate"] > table.loc["C1 exports to C0, %", "estimate"] > 0
    # the balance effect is the change in X_01 - X_10 between the actual and the counterfactual world
    assert np.sign(table.loc["C0 balance with C1", "estimate"]) == 1


def test_a_pair_weighted_k_times_is_k_copies_of_its_rows():
    # SYNTHETIC world: the bootstrap weights a pair drawn k times by k; the estimates are those of the
    # panel with k copies of the pair's rows (each copy its own observation)
    world = simulated_world(8)
    data, terms = gravity.add_agreement_terms(world, ("C0", "C1"), 2008, other=world["fta"])
    units = gravity.pair_ids(data, "symmetric")
    counts = units.map(dict(zip(sorted(units.unique()), np.random.default_rng(1).integers(0, 3, units.nunique()),
                                strict=True)))
    counts[units == "C0_C1"] = 1
    weighted = gravity.ppml(data.assign(w=counts.astype(float))[counts > 0], "trade", terms, weights="w")
    copies = data.loc[data.index.repeat(counts)].assign(copy=lambda f: f.groupby(level=0).cumcount())
    duplicated = gravity.ppml(copies, "trade", terms, keys=("exporter", "importer", "year", "copy"))
    np.testing.assert_allclose(weighted.table["estimate"], duplicated.table["estimate"], atol=1e-8)
