"""Decompositions: hand cases, identities (hypothesis), an independent matrix computation
on the real data, and bad input. Frames built here are SYNTHETIC unless read from
data/processed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from korus_research import decomposition as d
from korus_research import io
from korus_research.errors import DataError


def _panel(values: dict[tuple[str, int], tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"group": g, "year": y, "exports": x, "imports": m}
                         for (g, y), (x, m) in values.items()])


HAND = _panel({("autos", 2011): (1.0, 10.0), ("autos", 2016): (2.0, 20.0),
               ("other", 2011): (5.0, 5.0), ("other", 2016): (4.0, 6.0)})


def test_balance_contributions_by_hand():
    c = d.balance_contributions(HAND, 2011, 2016)
    # balance 2011: 6 - 15 = -9; 2016: 6 - 26 = -20; change -11
    assert c.loc["autos", "balance_change"] == -9.0  # +1 exports, +10 imports
    assert c.loc["other", "balance_change"] == -2.0  # -1 exports, +1 imports
    assert c.loc["total", "balance_change"] == -11.0
    assert c.loc["autos", "share_of_balance_change"] == pytest.approx(9 / 11)


def test_growth_contributions_by_hand():
    g = d.growth_contributions(HAND, 2011, 2016)
    assert g.loc["autos", "imports_growth_contribution"] == pytest.approx(10 / 15)
    assert g.loc["total", "exports_growth_contribution"] == pytest.approx(0.0)


def test_shift_share_by_hand():
    partner = pd.DataFrame({"group": ["a", "a", "b", "b"], "year": [0, 1, 0, 1], "imports": [10.0, 30.0, 10.0, 10.0]})
    world = pd.DataFrame({"group": ["a", "a", "b", "b"], "year": [0, 1, 0, 1], "imports": [100.0, 150.0, 100.0, 150.0]})
    s = d.shift_share(partner, world, 0, 1)
    # G = 0.5 and G_a = G_b = 0.5: demand 5 each, mix 0, share 15 and -5
    assert s.loc["a", "total_demand"] == pytest.approx(5.0)
    assert s.loc["a", "product_mix"] == pytest.approx(0.0)
    assert s.loc["a", "partner_share"] == pytest.approx(15.0)
    assert s.loc["b", "partner_share"] == pytest.approx(-5.0)


def test_lmdi_by_hand_single_group():
    # one group: the mix term is zero and the within term is the whole change
    partner = pd.DataFrame({"group": ["a", "a"], "year": [0, 1], "imports": [10.0, 20.0]})
    world = pd.DataFrame({"group": ["a", "a"], "year": [0, 1], "imports": [100.0, 100.0]})
    out = d.lmdi_share(partner, world, 0, 1)
    assert out.loc["total", "product_mix"] == pytest.approx(0.0)
    assert out.loc["total", "within_product_share"] == pytest.approx(0.1)
    assert out.loc["total", "within_product_share_log"] == pytest.approx(np.log(2))


values = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1.0, 1e6, allow_nan=False, allow_infinity=False)


GROUP_COUNTS = st.integers(1, 6)


@st.composite
def panels(draw, elements=values, n_groups=GROUP_COUNTS):
    k = draw(n_groups)
    data = {}
    for g in range(k):
        for y in (2011, 2016):
            data[(f"g{g}", y)] = (draw(elements), draw(elements))
    return _panel(data)


@settings(max_examples=80, deadline=None)
@given(panels())
def test_parts_sum_to_total(panel):
    c = d.balance_contributions(panel, 2011, 2016)
    parts = c.drop(index="total").sum()
    for col in ("exports_change", "imports_change", "balance_change"):
        assert parts[col] == pytest.approx(c.loc["total", col], rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(panels())
def test_swapping_years_flips_every_sign(panel):
    a = d.balance_contributions(panel, 2011, 2016)
    b = d.balance_contributions(panel, 2016, 2011)
    cols = ["exports_change", "imports_change", "balance_change"]
    np.testing.assert_allclose(a[cols].to_numpy(), -b[cols].to_numpy(), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(panels(n_groups=st.integers(2, 6)), st.integers(1, 3))
def test_regroup_then_sum_equals_sum_then_regroup(panel, n_new):
    mapping = {g: f"G{i % n_new}" for i, g in enumerate(sorted(panel["group"].unique()))}
    fine = d.balance_contributions(panel, 2011, 2016).drop(index="total")
    summed = fine.groupby(fine.index.map(mapping))[["balance_change"]].sum()
    coarse_panel = panel.assign(group=panel["group"].map(mapping)).groupby(["group", "year"], as_index=False).sum()
    coarse = d.balance_contributions(coarse_panel, 2011, 2016).drop(index="total")
    np.testing.assert_allclose(summed.loc[coarse.index, "balance_change"], coarse["balance_change"], atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(panels())
def test_no_change_gives_zero_contributions(panel):
    same = panel[panel["year"] == 2011]
    flat = pd.concat([same, same.assign(year=2016)])
    c = d.balance_contributions(flat, 2011, 2016)
    assert (c[["exports_change", "imports_change", "balance_change"]] == 0).all().all()


@settings(max_examples=60, deadline=None)
@given(panels(elements=positive, n_groups=st.integers(1, 6)), st.floats(1.5, 20))
def test_lmdi_has_no_residual(panel, scale):
    partner = panel[["group", "year", "imports"]]
    world = panel.assign(imports=panel["imports"] * scale + panel["exports"])[["group", "year", "imports"]]
    out = d.lmdi_share(partner, world, 2011, 2016)
    total = out.loc["total"]
    s0, s1 = out.attrs["share_base"], out.attrs["share_compare"]
    assert total["share_change"] == pytest.approx(s1 - s0, rel=1e-9, abs=1e-12)
    assert total["product_mix_log"] + total["within_product_share_log"] == pytest.approx(
        np.log(s1 / s0), rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(panels(elements=positive), st.floats(1.5, 20))
def test_shift_share_parts_add_up(panel, scale):
    partner = panel[["group", "year", "imports"]]
    world = panel.assign(imports=panel["imports"] * scale)[["group", "year", "imports"]]
    s = d.shift_share(partner, world, 2011, 2016)
    parts = s[["total_demand", "product_mix", "partner_share"]].sum(axis=1)
    np.testing.assert_allclose(parts, s["change"], rtol=1e-9, atol=1e-6)


def test_matrix_form_agrees_with_groupby_on_real_data():
    """Independent computation: chapter x group indicator matrix times chapter changes."""
    comtrade = io.read_table("comtrade_hs2")
    panel = d.comtrade_panel(comtrade, "KOR", "section")
    c = d.balance_contributions(panel, 2011, 2016).drop(index="total")
    rows = comtrade[(comtrade["partner_key"] == "KOR") & comtrade["flow"].isin(["export", "import"])
                    & comtrade["year"].isin([2011, 2016])]
    chapters = sorted(rows["hs2"].unique())
    groups = sorted({d.hs_section(h) for h in chapters})
    indicator = np.zeros((len(groups), len(chapters)))
    for j, h in enumerate(chapters):
        indicator[groups.index(d.hs_section(h)), j] = 1.0
    sign = np.where(rows["flow"] == "export", 1.0, -1.0) * np.where(rows["year"] == 2016, 1.0, -1.0)
    change_by_chapter = (pd.Series(sign * rows["value_usd"].to_numpy(), index=rows["hs2"].to_numpy())
                         .groupby(level=0).sum().reindex(chapters, fill_value=0.0).to_numpy())
    by_matrix = indicator @ change_by_chapter
    np.testing.assert_allclose(c.loc[groups, "balance_change"].to_numpy(), by_matrix, rtol=1e-9, atol=1e-3)
    assert abs(c["balance_change"].sum() - change_by_chapter.sum()) < 1e-3


def test_bad_input():
    no_2016_imports = HAND.assign(imports=HAND["imports"].where(HAND["year"] == 2011))
    with pytest.raises(DataError, match=r"field 'imports': year\(s\) \[2016\] missing for the imports side"):
        d.balance_contributions(no_2016_imports, 2011, 2016)
    with pytest.raises(DataError, match=r"field 'group\+year': duplicated key; rows: autos/2011"):
        d.balance_contributions(pd.concat([HAND, HAND.iloc[[0]]]), 2011, 2016)
    with pytest.raises(DataError, match=r"field 'exports': negative or missing trade value; rows: other/2016"):
        d.balance_contributions(HAND.assign(exports=[1.0, 2.0, 5.0, -4.0]), 2011, 2016)
    partner = HAND[["group", "year", "imports"]].assign(imports=[0.0, 1.0, 1.0, 1.0])
    with pytest.raises(DataError, match="LMDI needs positive values"):
        d.lmdi_share(partner, HAND[["group", "year", "imports"]], 2011, 2016, zeros="error")


def test_lmdi_small_value_strategy_with_zeros():
    # SYNTHETIC: the partner sells nothing in group a in the base year
    partner = HAND[["group", "year", "imports"]].assign(imports=[0.0, 1.0, 1.0, 1.0])
    world = HAND[["group", "year", "imports"]]
    out = d.lmdi_share(partner, world, 2011, 2016)
    assert out.attrs["zero_groups"] == ["autos"]
    true_change = 2 / 26 - 1 / 15
    assert out.loc["total", "share_change"] == pytest.approx(true_change, rel=1e-6)


def test_named_groups_and_sections():
    assert d.named_group("87") == "autos (ch. 87)"
    assert d.named_group("61").startswith("textiles")
    assert d.named_group("42").startswith("textiles")
    assert d.named_group("85").startswith("electronics")
    assert d.named_group("27") == d.OTHER_GROUP
    assert d.hs_section("87").startswith("XVII ")
    assert d.hs_section("01").startswith("I ")
    assert d.hs_section("99") == d.UNCLASSIFIED_SECTION
    assert [d.roman_to_int(r) for r in ["I", "IV", "IX", "XIV", "XIX", "XXI"]] == [1, 4, 9, 14, 19, 21]
    labels = ["XVII Vehicles", "II Vegetable", "IX Wood", "I Live"]
    assert sorted(labels, key=d.group_sort_key) == ["I Live", "II Vegetable", "IX Wood", "XVII Vehicles"]
