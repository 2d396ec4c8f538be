"""Structural account: the GE solver against Stata's published ge_gravity results (both
imbalance conventions) through this module's code path, closing every imbalance in toy
economies with a known answer (symmetric costs: every bilateral balance zero; two countries:
an independent root-finding solution), each part of the bilateral decomposition recovered on
a constructed economy, the positions against an independent Bradley-Terry solution, the
change split on worlds where one factor moves, and the seeded bootstrap. Frames built here
are SYNTHETIC, labelled so."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from korus_research import gravity, results, structural
from korus_research.errors import ParameterError

# ---------------------------------------------------------------- SYNTHETIC economies


def multilateral_resistances(phi: np.ndarray, y: np.ndarray, e: np.ndarray, tol: float = 1e-15):
    """Independent solution of Omega_i = sum_j phi_ij E_j / Phi_j, Phi_j = sum_i phi_ij Y_i / Omega_i
    (Anderson and van Wincoop 2003) by alternating updates, normalised Phi_0 = 1."""
    big_phi = np.ones(len(y))
    for _ in range(200000):
        omega = phi @ (e / big_phi)
        new = phi.T @ (y / omega)
        new /= new[0]
        if np.max(np.abs(new / big_phi - 1)) < tol:
            big_phi = new
            break
        big_phi = new
    omega = phi @ (e / big_phi)
    return omega, big_phi


def constructed_world(n: int = 6, seed: int = 0, alpha: float = 0.3, deficit_sd: float = 8.0):
    """SYNTHETIC structural-gravity world: outputs, deficits summing to zero, symmetric trade
    costs (domestic trade free) and an asymmetry +alpha/-alpha on the C0 <-> C1 pair only.
    Returns the flows and the known parts of C0's balance with C1."""
    rng = np.random.default_rng(seed)
    countries = [f"C{i}" for i in range(n)]
    y = rng.uniform(50, 150, n)
    deficits = rng.normal(0, deficit_sd, n)
    deficits -= deficits.mean()
    e = y + deficits
    s = rng.normal(-2.0, 0.6, (n, n))
    s = (s + s.T) / 2
    np.fill_diagonal(s, 0.0)
    a = np.zeros((n, n))
    a[0, 1], a[1, 0] = alpha, -alpha
    phi = np.exp(s + a)
    omega, big_phi = multilateral_resistances(phi, y, e)
    x = (y / omega)[:, None] * (e / big_phi)[None, :] * phi
    flows = pd.DataFrame(x, index=countries, columns=countries)
    known = {
        "aggregate": math.log(y[0] / e[0]) - math.log(y[1] / e[1]),
        "triangular": math.log(big_phi[0] / omega[0]) - math.log(big_phi[1] / omega[1]),
        "asymmetric": 2 * alpha,
    }
    return flows, known


def to_panel(flows: dict, flow: str = "trade_usd_mn") -> pd.DataFrame:
    """SYNTHETIC long panel from {year: flow matrix}."""
    parts = []
    for year, x in flows.items():
        long = x.rename_axis(index="exporter", columns="importer").stack().rename(flow).reset_index()
        parts.append(long.assign(year=year))
    return pd.concat(parts, ignore_index=True)[["exporter", "importer", "year", flow]]


def dta_like(seed: int = 0, n: int = 8, effects=(0.3, 0.1)) -> pd.DataFrame:
    """SYNTHETIC DTA-like panel (international flows, waves 1996-2016): C0 -> C1 rises by
    effects[0] and C1 -> C0 by effects[1] once their agreement (id 99) is in force (2012)."""
    rng = np.random.default_rng(seed)
    countries = [f"C{i}" for i in range(n)]
    pair = {}
    for i in countries:
        for j in countries:
            pair[(i, j)] = pair[(j, i)] if (j, i) in pair else rng.normal(0, 0.7)
    other = {(i, j): int(rng.random() < 0.15) for i in countries for j in countries}
    rows = []
    for year in range(1996, 2017, 4):
        ex = {c: rng.normal(0, 0.2) for c in countries}
        im = {c: rng.normal(0, 0.2) for c in countries}
        for i in countries:
            for j in countries:
                if i == j:
                    continue
                member = {i, j} == {"C0", "C1"} and year >= 2012
                effect = (effects[0] if i == "C0" else effects[1]) if member else 0.0
                mu = np.exp(9 + ex[i] + im[j] + pair[(i, j)] + effect)
                agreement_id = 99 if member else (7 * other[(min(i, j), max(i, j))] if year >= 2004 else 0)
                rows.append({"exporter": i, "importer": j, "year": year, "trade_usd": float(rng.poisson(mu)),
                             "agreement_id": agreement_id})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def synthetic_account_inputs():
    """SYNTHETIC account inputs: a WIOD-like panel (7 economies with domestic flows, 2010 and
    2014, the C0-C1 agreement in force in 2014) and directional coefficients from a DTA-like panel."""
    rng = np.random.default_rng(42)
    worlds = {}
    for year, seed in ((2010, 1), (2014, 2)):
        flows, _ = constructed_world(7, seed=seed, alpha=0.1 if year == 2010 else -0.1)
        worlds[year] = flows * np.exp(rng.normal(0, 0.05, flows.shape))
    panel = to_panel(worlds)
    coefficients = structural.directional_coefficients(dta_like(3), "C0", "C1", 2012)
    return panel, coefficients


# ---------------------------------------------------------------- GE: Stata and the toy economies


def _ge_gravity_published(mirror) -> pd.DataFrame:
    import pyreadr

    path = mirror / "published" / "ge_gravity_stata_results_TradeData0014.rda"
    if not path.exists():
        pytest.skip(f"{path} not in the mirror")
    return pyreadr.read_r(str(path))["TradeData0014_Results"]


@pytest.mark.mirror
@pytest.mark.parametrize("imbalances, welfare, flows", [("additive", "w_eu", "X_eu"),
                                                        ("multiplicative", "w_mult", "X_mult")])
def test_both_code_paths_reproduce_stata_ge_gravity(mirror, imbalances, welfare, flows):
    # published: Stata ge_gravity, 2000 baseline, theta = 4, the EU enlargements' partial effect
    r = _ge_gravity_published(mirror)
    d = r[r["year"] == 2000]
    x = d.pivot(index="exporter", columns="importer", values="trade")
    beta = d.pivot(index="exporter", columns="importer", values="eu_effect")
    published_w = d.groupby("exporter")[welfare].first()
    published_x = d.pivot(index="exporter", columns="importer", values=flows)
    for result in (structural.solve_ge(x, beta, theta=4, imbalances=imbalances),
                   structural.ge_imbalance_change(x, beta, theta=4, imbalances=imbalances, keep_imbalances=1.0)):
        # the published columns are single precision (about 7 digits)
        assert np.max(np.abs(result.welfare / published_w - 1)) < 1e-6
        assert np.nanmax(np.abs((result.flows / published_x - 1).to_numpy())) < 1e-6


def test_keeping_the_imbalances_is_gravity_ge_with_imbalances():
    # SYNTHETIC world: the module's own iteration with every imbalance kept is gravity's solver
    flows, _ = constructed_world(6, seed=4)
    beta = pd.DataFrame(np.random.default_rng(4).normal(0, 0.2, flows.shape), index=flows.index, columns=flows.columns)
    for imbalances in structural.IMBALANCES:
        ours = structural.ge_imbalance_change(flows, beta, theta=5, imbalances=imbalances)
        theirs = gravity.ge_with_imbalances(flows, beta, theta=5, imbalances=imbalances)
        np.testing.assert_allclose(ours.flows, theirs.flows, rtol=1e-11)
        np.testing.assert_allclose(ours.welfare, theirs.welfare, rtol=1e-11)


def test_closing_every_imbalance_with_symmetric_costs_balances_every_pair():
    # SYNTHETIC toy economy with symmetric trade costs and large aggregate imbalances: with balanced
    # trade, symmetric costs make the multilateral resistances equal (Anderson and van Wincoop 2003),
    # so every bilateral balance is zero once the imbalances are closed: the known answer
    flows, _ = constructed_world(6, seed=7, alpha=0.0, deficit_sd=15.0)
    assert np.max(np.abs(flows - flows.T).to_numpy()) > 1.0  # the baseline has bilateral imbalances
    closed = {imb: structural.solve_ge(flows, None, theta=5.0, imbalances=imb, keep_imbalances=0.0)
              for imb in structural.IMBALANCES}
    for result in closed.values():
        new = result.flows
        assert np.max(np.abs((new - new.T).to_numpy())) < 1e-9 * new.to_numpy().max()
        assert np.max(np.abs(new.sum(axis=0) - new.sum(axis=1))) < 1e-9 * new.to_numpy().max()
        assert result.max_clearing_error < 1e-10
        assert new.to_numpy().sum() == pytest.approx(flows.to_numpy().sum(), rel=1e-12)  # world output numeraire
    # closing leaves no imbalance for the convention to act on: both give the same world
    np.testing.assert_allclose(closed["additive"].flows, closed["multiplicative"].flows, rtol=1e-10)
    # keeping them returns the baseline
    same = structural.solve_ge(flows, None, theta=5.0)
    np.testing.assert_allclose(same.flows, flows, rtol=1e-12)


def test_closing_the_imbalance_of_two_countries_matches_an_independent_solution():
    # SYNTHETIC two-country world: the equilibrium with balanced trade solved by root-finding on the
    # relative wage (scipy brentq), independently of the fixed point
    x = pd.DataFrame([[300.0, 40.0], [90.0, 500.0]], index=["A", "B"], columns=["A", "B"])
    theta = 4.0
    y, e = x.sum(axis=1).to_numpy(), x.sum(axis=0).to_numpy()
    pi = x.to_numpy() / e[None, :]

    def shares(w):
        weights = pi * (w ** -theta)[:, None]
        return weights / weights.sum(axis=0, keepdims=True)

    def wages(omega):  # relative wage w_A / w_B, world output held constant
        w_b = y.sum() / (omega * y[0] + y[1])
        return np.array([omega * w_b, w_b])

    def trade_balance(omega):
        w = wages(omega)
        s = shares(w)
        return s[0, 1] * w[1] * y[1] - s[1, 0] * w[0] * y[0]  # A's exports minus imports, balanced trade

    omega = optimize.brentq(trade_balance, 0.2, 5.0, xtol=1e-15, rtol=1e-15)
    w = wages(omega)
    expected = shares(w) * (w * y)[None, :]
    result = structural.solve_ge(x, None, theta=theta, keep_imbalances=0.0)
    np.testing.assert_allclose(result.wage, w, rtol=1e-10)
    np.testing.assert_allclose(result.flows, expected, rtol=1e-10)
    # with two countries the bilateral balance is the aggregate one: zero once closed
    assert structural.bilateral_balance(result.flows, "A", "B") == pytest.approx(0.0, abs=1e-9)
    # the deficit country (A: imports 90 > exports 40) loses in relative wages (the transfer problem)
    assert w[0] < w[1]


def test_closing_only_two_countries_imbalances_with_an_absorber():
    # SYNTHETIC toy economy: closing only C0's and C1's deficits, C3 absorbing what they give up
    flows, _ = constructed_world(5, seed=11, alpha=0.3, deficit_sd=15.0)
    y, e = flows.sum(axis=1), flows.sum(axis=0)
    keep = pd.Series(0.0, index=["C0", "C1"])
    result = structural.solve_ge(flows, None, theta=5.0, keep_imbalances=keep, absorber="C3")
    new = result.flows
    deficits = new.sum(axis=0) - new.sum(axis=1)  # expenditure minus output, after the change
    assert abs(deficits["C0"]) < 1e-9 * y.sum() and abs(deficits["C1"]) < 1e-9 * y.sum()
    # the others keep theirs (additive: in units of world output, the numeraire) and C3 takes the rest
    for c in ("C2", "C4"):
        assert deficits[c] == pytest.approx(e[c] - y[c], rel=1e-9, abs=1e-9)
    assert deficits["C3"] == pytest.approx((e - y)[["C0", "C1", "C3"]].sum(), rel=1e-9)
    assert abs(deficits.sum()) < 1e-9 * y.sum() and result.max_clearing_error < 1e-10
    # a per-country share of zero everywhere is the closing of every imbalance; of one, the baseline
    everyone = structural.solve_ge(flows, None, theta=5.0, keep_imbalances=pd.Series(0.0, index=flows.index),
                                   absorber="C3")
    np.testing.assert_allclose(everyone.flows, structural.solve_ge(flows, None, 5.0, keep_imbalances=0.0).flows,
                               rtol=1e-10)
    nobody = structural.solve_ge(flows, None, theta=5.0, keep_imbalances=pd.Series(1.0, index=flows.index),
                                 absorber="C3")
    np.testing.assert_allclose(nobody.flows, flows, rtol=1e-10)
    with pytest.raises(ParameterError) as info:
        structural.solve_ge(flows, None, imbalances="multiplicative", keep_imbalances=keep, absorber="C3")
    assert info.value.parameter == "imbalances"
    with pytest.raises(ParameterError) as info:
        structural.solve_ge(flows, None, keep_imbalances=keep, absorber="XX")
    assert info.value.parameter == "absorber" and "C3" in info.value.valid
    with pytest.raises(ParameterError) as info:
        structural.solve_ge(flows, None, keep_imbalances=pd.Series(0.0, index=["ZZZ"]), absorber="C3")
    assert info.value.parameter == "keep_imbalances"


def test_bad_parameters_name_the_parameter_and_the_valid_values():
    flows, _ = constructed_world(4, seed=1)
    with pytest.raises(ParameterError) as info:
        structural.solve_ge(flows, None, keep_imbalances=1.5)
    assert info.value.parameter == "keep_imbalances"
    with pytest.raises(ParameterError) as info:
        structural.ge_imbalance_change(flows, None, imbalances="both")
    assert info.value.parameter == "imbalances" and "additive" in info.value.valid
    with pytest.raises(structural.StructuralError, match="not in the panel"):
        structural.check_partner(to_panel({2014: flows}), "C0", "KOR")


def test_nearest_panel_years():
    years = [2000, 2005, 2010, 2014]
    assert structural.nearest_years(years, 2011, 2016) == (2010, 2014)  # Korea's 2011-2016
    assert structural.nearest_years(years, 1993, 1998) == (2000, 2000)  # NAFTA: one panel year
    assert structural.nearest_years([2000, 2004], 2002, 2002) == (2000, 2004)  # ties: earlier base, later compare


# ---------------------------------------------------------------- the decomposition


@pytest.mark.parametrize("seed, alpha", [(0, 0.3), (5, -0.25), (9, 0.0)])
def test_each_part_of_the_balance_is_recovered_on_a_constructed_economy(seed, alpha):
    # SYNTHETIC: aggregate imbalances, multilateral resistances and the pair's asymmetry known by construction
    flows, known = constructed_world(6, seed=seed, alpha=alpha)
    positions = structural.mr_positions(flows, "C0", "C1", tol=1e-12)
    parts = structural.decompose_balance(flows, "C0", "C1", positions.d, agreement_gap=0.1)
    logs = parts["log points"]
    assert logs[structural.PARTS["aggregate"]] == pytest.approx(known["aggregate"], abs=1e-12)
    assert logs[structural.PARTS["triangular"]] == pytest.approx(known["triangular"], abs=1e-7)
    assert logs[structural.PARTS["asymmetric"]] == pytest.approx(known["asymmetric"], abs=1e-7)
    assert positions.own_gap == pytest.approx(known["asymmetric"], abs=1e-7)
    assert positions.explained == pytest.approx(1.0, abs=1e-9)  # no asymmetry beyond the pair's own
    # the dollar parts add up to the balance exactly; the agreement and the rest add up to the third part
    three = [structural.PARTS[k] for k in ("aggregate", "triangular", "asymmetric")]
    balance = flows.loc["C0", "C1"] - flows.loc["C1", "C0"]
    assert parts.loc[three, "balance"].sum() == pytest.approx(balance, rel=1e-12)
    asym = structural.PARTS["asymmetric"]
    assert (parts.loc[f"{asym}: the agreement", "balance"] + parts.loc[f"{asym}: other", "balance"]
            == pytest.approx(parts.loc[asym, "balance"], rel=1e-12))


def test_positions_are_the_bradley_terry_solution_of_the_ppml_conditions():
    # SYNTHETIC noisy world: with exporter, importer and symmetric pair effects, the PPML conditions
    # reduce to a Bradley-Terry model on pair totals (sum_j S_ij p_i / (p_i + p_j) = exports_i);
    # solved here by Hunter's (2004) MM algorithm, independently of pyfixest
    flows, _ = constructed_world(7, seed=3, alpha=0.2)
    flows = flows * np.exp(np.random.default_rng(3).normal(0, 0.3, flows.shape))
    positions = structural.mr_positions(flows, "C0", "C1", tol=1e-13)
    x = flows.to_numpy().copy()
    np.fill_diagonal(x, 0.0)
    x[0, 1] = x[1, 0] = 0.0  # the members' pair is fitted by its own dummy: no information
    totals, wins = x + x.T, x.sum(axis=1)
    p = np.ones(len(x))
    for _ in range(100000):
        new = wins / (totals / (p[:, None] + p[None, :])).sum(axis=1)
        new /= np.exp(np.log(new).mean())
        if np.max(np.abs(new / p - 1)) < 1e-14:
            p = new
            break
        p = new
    np.testing.assert_allclose(positions.d.to_numpy(), np.log(p) - np.log(p).mean(), atol=1e-7)
    assert 0 < positions.explained < 1


def test_weighted_positions_are_those_of_duplicated_pairs():
    # SYNTHETIC: a pair weighted 2 gives the positions of the world where that pair trades twice as much
    # in both directions (PPML with a pair effect: weights multiply the pair's contribution)
    flows, _ = constructed_world(6, seed=11, alpha=0.1)
    flows = flows * np.exp(np.random.default_rng(11).normal(0, 0.2, flows.shape))
    weights = pd.Series(1.0, index=sorted(set(gravity.pair_ids(to_panel({0: flows}), "symmetric"))))
    weights["C2_C4"] = 2.0
    weights["C3_C5"] = 0.0
    weighted = structural.mr_positions(flows, "C0", "C1", weights, tol=1e-13)
    doubled = flows.copy()
    for i, j in (("C2", "C4"), ("C4", "C2")):
        doubled.loc[i, j] *= 2
    dropped = structural.mr_positions(doubled, "C0", "C1", weights.where(weights == 0, 1.0), tol=1e-13)
    np.testing.assert_allclose(weighted.d, dropped.d, atol=1e-8)


# ---------------------------------------------------------------- trade costs and the change split


def test_calibrated_trade_costs_return_the_data_and_gravity_ignores_their_normalisation():
    flows, _ = constructed_world(6, seed=2)  # SYNTHETIC
    d = structural.mr_positions(flows, "C0", "C1").d
    log_phi = structural.log_trade_costs(flows, d)
    assert np.allclose(np.diag(log_phi), 0.0)
    rebuilt = structural.structural_flows(log_phi, flows.sum(axis=1), flows.sum(axis=0))
    np.testing.assert_allclose(rebuilt, flows, rtol=1e-11)
    f = np.random.default_rng(0).normal(0, 1, (2, len(flows)))
    rescaled = log_phi + f[0][:, None] + f[1][None, :]
    np.testing.assert_allclose(structural.structural_flows(rescaled, flows.sum(axis=1), flows.sum(axis=0)), flows,
                               rtol=1e-11)
    with pytest.raises(structural.StructuralError, match="add up"):
        structural.structural_flows(log_phi, flows.sum(axis=1) * 1.1, flows.sum(axis=0))


def _split(base, compare, change=None):
    d_b = structural.mr_positions(base, "C0", "C1", tol=1e-12).d
    d_c = structural.mr_positions(compare, "C0", "C1", tol=1e-12).d
    return structural.change_split(base, compare, d_b, d_c, "C0", "C1", change)


def test_the_change_split_gives_everything_to_the_one_factor_that_moved():
    # SYNTHETIC: the same world two years running, with one factor changed
    base, _ = constructed_world(6, seed=1, alpha=0.2)
    y, e = base.sum(axis=1), base.sum(axis=0)
    d = structural.mr_positions(base, "C0", "C1", tol=1e-12).d
    log_phi = structural.log_trade_costs(base, d)
    b0 = structural.bilateral_balance(base, "C0", "C1")

    # (1) incomes and expenditures all grow by 20%: the balance grows by 20%, all of it incomes
    split = _split(base, base * 1.2)
    assert split.parts["incomes"] == pytest.approx(0.2 * b0, rel=1e-9)
    assert split.parts.drop("incomes").abs().max() < 1e-8 * abs(b0)

    # (2) the agreement: the pair's costs move by known directional effects, nothing else
    agreement = {("C0", "C1"): 0.25, ("C1", "C0"): 0.05}
    moved = log_phi.copy()
    for pair, b in agreement.items():
        moved.loc[pair] += b
    after = structural.structural_flows(moved, y, e)
    split = _split(base, after, agreement)
    change = structural.bilateral_balance(after, "C0", "C1") - b0
    assert split.parts["agreement"] == pytest.approx(change, rel=1e-8)
    assert split.parts.drop("agreement").abs().max() < 1e-7 * abs(change)
    # the same move with no agreement given is the pair's other costs
    assert _split(base, after).parts["pair"] == pytest.approx(change, rel=1e-8)

    # (3) third countries' costs fall: all of it the rest of the world
    moved = log_phi.copy()
    moved.loc["C2", "C3"] += 0.5
    moved.loc["C3", "C2"] += 0.5
    after = structural.structural_flows(moved, y, e)
    split = _split(base, after)
    change = structural.bilateral_balance(after, "C0", "C1") - b0
    assert split.parts["world"] == pytest.approx(change, rel=1e-8)
    assert split.parts.drop("world").abs().max() < 1e-7 * abs(change)

    # (4) anything at once: the parts add up to the change, and the endpoints are the data
    other, _ = constructed_world(6, seed=8, alpha=-0.1)
    split = _split(base, other, agreement)
    assert split.parts.sum() == pytest.approx(split.compare - split.base, rel=1e-10)
    assert split.endpoint_error < 1e-10


def test_shapley_values_of_a_known_game():
    # v(S) = (sum of S)^2 over weights a=1, b=2: phi_a = 1 + 1*2 = 3... computed by hand: v(ab) = 9,
    # v(a) = 1, v(b) = 4: phi_a = ((1 - 0) + (9 - 4)) / 2 = 3, phi_b = ((4 - 0) + (9 - 1)) / 2 = 6
    values = {(): 0.0, ("a",): 1.0, ("b",): 4.0, ("a", "b"): 9.0}
    assert structural.shapley(values, ["a", "b"]).to_dict() == {"a": 3.0, "b": 6.0}


# ---------------------------------------------------------------- the account and its bootstrap


def test_directional_coefficients_and_their_effects_by_year(synthetic_account_inputs):
    _, coefficients = synthetic_account_inputs
    est = coefficients.estimates
    assert est["agreement_C0_to_C1"] == pytest.approx(0.3, abs=0.05)
    assert est["agreement_C1_to_C0"] == pytest.approx(0.1, abs=0.05)
    assert coefficients.start == {"agreement_C0_to_C1": 2012, "agreement_C1_to_C0": 2012,
                                  "agreement_lag4_C0_to_C1": 2016, "agreement_lag4_C1_to_C0": 2016}
    in_2014 = coefficients.effects(2014)
    assert in_2014 == {("C0", "C1"): est["agreement_C0_to_C1"], ("C1", "C0"): est["agreement_C1_to_C0"]}
    in_2016 = coefficients.effects(2016)
    assert in_2016[("C0", "C1")] == pytest.approx(est["agreement_C0_to_C1"] + est["agreement_lag4_C0_to_C1"])
    assert coefficients.lead_test[0] in ("passed", "failed")


def test_the_bootstrap_is_seeded_and_stable(synthetic_account_inputs):
    panel, coefficients = synthetic_account_inputs
    kwargs = dict(entry_year=2014, coefficients=coefficients, draws=4, unit=1.0, theta=5.0)
    first = structural.structural_account(panel, "C0", "C1", 2011, 2016, seed=3, **kwargs)
    again = structural.structural_account(panel, "C0", "C1", 2011, 2016, seed=3, **kwargs)
    other = structural.structural_account(panel, "C0", "C1", 2011, 2016, seed=4, **kwargs)
    pd.testing.assert_frame_equal(first.draws, again.draws)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert not first.draws.equals(other.draws)
    pd.testing.assert_series_equal(first.table["estimate"], other.table["estimate"])  # the point does not move
    assert first.info["draws used"] == 4 and first.info["base_wiod"] == 2010 and first.info["compare_wiod"] == 2014
    table = first.table
    # every identity holds in the point estimate and in every draw
    for frame in (table["estimate"].to_frame().T, first.draws):
        for _, q in frame.iterrows():
            split = sum(q[f"split: {k}@2010-2014"] for k in structural.FACTORS)
            assert split == pytest.approx(q["change@2010-2014"], rel=1e-9)
            parts = q["aggregate@2014"] + q["triangular@2014"] + q["asymmetric@2014"]
            assert parts == pytest.approx(q["balance@2014"], rel=1e-9)
            shapley = q["both: imbalances@2014"] + q["both: agreement@2014"]
            assert shapley == pytest.approx(q["both@2014"], rel=1e-9)
    # removing a trade-raising agreement whose larger effect is on C0's exports lowers C0's balance
    assert table.loc["agreement@2014", "estimate"] > 0
    assert (table.loc["agreement@2014", "low"] < table.loc["agreement@2014", "high"])
    # the estimate table's contract holds
    rows = first.estimate_rows()
    frame = results.estimate_rows(rows, "06", "KOR-00000000")
    assert set(frame["unit"]) == {"US$ bn"}
    assert {"95% CI", "none", "range across estimators"} <= set(frame["interval"])
    closed = frame[frame["quantity"] == structural.QUANTITIES["closed"]]
    assert closed["interval"].iloc[0] == "range across estimators"
    assert "trade elasticities" in closed["diagnostics_detail"].iloc[0]
    # only the two countries' imbalances closed, C3 absorbing them: within the range over elasticities
    members = structural.structural_account(panel, "C0", "C1", 2011, 2016, seed=3, absorber="C3", **kwargs)
    lo, hi = members.sensitivity.loc["closed: members@2014", ["low", "high"]]
    assert lo <= members.table.loc["closed: members@2014", "estimate"] <= hi
    assert members.checks["closed: members"][0] == "passed"
    assert "closed: members@2014" not in first.table.index  # no ROW in this panel: skipped, and said
    assert "structural: only the two countries' imbalances closed" in dict(first.skipped)


def test_the_bootstrap_gives_the_same_draws_in_worker_processes(synthetic_account_inputs):
    panel, coefficients = synthetic_account_inputs
    kwargs = dict(entry_year=2014, coefficients=coefficients, draws=2, seed=8, unit=1.0)
    alone = structural.structural_account(panel, "C0", "C1", 2011, 2016, jobs=1, **kwargs)
    pooled = structural.structural_account(panel, "C0", "C1", 2011, 2016, jobs=2, **kwargs)
    pd.testing.assert_frame_equal(alone.draws, pooled.draws, rtol=1e-10)


def test_without_an_agreement_the_account_says_what_it_skips(synthetic_account_inputs):
    panel, _ = synthetic_account_inputs
    account = structural.structural_account(panel, "C0", "C1", 2013, 2014, draws=2, seed=1, unit=1.0)
    sections = dict(account.skipped)
    assert "structural: the agreement's parts" in sections
    assert "same panel year 2014" in sections["structural: change between the study's years"]
    assert "agreement@2014" not in account.table.index and "closed@2014" in account.table.index
    assert account.change.empty


def test_goods_and_services_beside_the_model_and_the_waterfall(synthetic_account_inputs):
    panel, coefficients = synthetic_account_inputs
    account = structural.structural_account(panel, "C0", "C1", 2011, 2016, entry_year=2014,
                                            coefficients=coefficients, draws=2, seed=2, unit=1.0)
    census = pd.DataFrame({"vintage": ["2026-01"] * 3 + ["2024-06"], "year": [2010, 2014, 2016, 2014],
                           "iso3": ["C1"] * 4, "exports_usd_mn": [1000.0, 2000.0, 2500.0, 1.0],
                           "imports_usd_mn": [1500.0, 3000.0, 3000.0, 1.0]})  # SYNTHETIC
    services = pd.DataFrame({"year": [2013, 2013, 2016], "direction": ["exports", "imports", "exports"],
                             "value_usd_bn": [3.0, 1.0, 4.0]})  # SYNTHETIC
    gaps = structural.goods_and_services(account, census, services)
    assert gaps.loc[2014, "Census goods balance"] == pytest.approx(-1.0)  # the latest vintage only
    assert gaps.loc[2014, "BEA services balance (published)"] == pytest.approx(2.0)
    assert gaps.loc[2014, "services year"] == 2013 and pd.isna(gaps.loc[2016, "BEA services balance (published)"])
    wiod = account.table.loc["balance@2014", "estimate"]
    assert gaps.loc[2014, "gap: WIOD minus goods and services"] == pytest.approx(wiod - 1.0)
    assert len(structural.gap_rows(gaps, account)) == 2
    fig = structural.waterfall(account)
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
