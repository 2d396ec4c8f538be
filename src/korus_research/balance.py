"""The US goods balance with a partner: series, automotive share, benchmarks, rankings.

Pure functions on the processed tables (:mod:`korus_research.io`); the balance
overview notebook calls them. Values come in US$ million from Census and are
returned in US$ billion (``_usd_bn``) where stated.
"""

from __future__ import annotations

import difflib

import pandas as pd

#: Census end-use codes of the automotive group: passenger cars (new and used) and
#: parts (engines and engine parts; bodies and chassis for cars; tires and tubes;
#: other parts and accessories).
AUTO_END_USE = {
    "passenger cars": ["30000"],
    "parts": ["30200", "30210", "30220", "30230"],
}

#: Readable names of the flows of :func:`partner_annual` and :func:`balance_change` (table rows).
FLOW_NAMES = {
    "exports_usd_bn": "US exports",
    "imports_usd_bn": "US imports",
    "balance_usd_bn": "US balance (exports - imports)",
}


def latest_vintage(table: pd.DataFrame) -> str:
    """The most recent Census vintage in a table with a ``vintage`` column."""
    return max(table["vintage"])


def check_partner(table: pd.DataFrame, partner: str, column: str = "iso3") -> str:
    """Return the upper-cased ISO3 ``partner`` or raise a clear error with close matches."""
    code = str(partner).upper()
    known = sorted(table[column].dropna().unique())
    if code not in known:
        close = difflib.get_close_matches(code, known, n=5)
        raise ValueError(
            f"partner {partner!r} is not an ISO3 code in the {column!r} column of this table "
            f"({len(known)} partners); close matches: {close or 'none'}"
        )
    return code


def partner_annual(annual: pd.DataFrame, partner: str, vintage: str | None = None,
                   complete_only: bool = True) -> pd.DataFrame:
    """US exports, imports and balance with ``partner`` by year, in US$ billion.

    Census partner codes mapping to the same ISO3 code are summed (e.g. Israel's
    two codes). Incomplete years (the current year of a release) are dropped unless
    ``complete_only`` is false.
    """
    code = check_partner(annual, partner)
    vintage = vintage or latest_vintage(annual)
    rows = annual[(annual["iso3"] == code) & (annual["vintage"] == vintage)]
    if complete_only:
        rows = rows[rows["months_reported"] == 12]
    out = rows.groupby("year")[["exports_usd_mn", "imports_usd_mn"]].sum() / 1000.0
    out.columns = ["exports_usd_bn", "imports_usd_bn"]
    out["balance_usd_bn"] = out["exports_usd_bn"] - out["imports_usd_bn"]
    return out


def partner_monthly(monthly: pd.DataFrame, partner: str, vintage: str | None = None) -> pd.DataFrame:
    """Monthly exports, imports and balance with ``partner`` (US$ billion), dated."""
    code = check_partner(monthly, partner)
    vintage = vintage or latest_vintage(monthly)
    rows = monthly[(monthly["iso3"] == code) & (monthly["vintage"] == vintage)]
    out = rows.groupby(["year", "month"])[["exports_usd_mn", "imports_usd_mn"]].sum() / 1000.0
    out.columns = ["exports_usd_bn", "imports_usd_bn"]
    out["balance_usd_bn"] = out["exports_usd_bn"] - out["imports_usd_bn"]
    out = out.reset_index()
    out["date"] = pd.to_datetime(dict(year=out["year"], month=out["month"], day=1))
    return out


def balance_change(series: pd.DataFrame, base_year: int, compare_year: int) -> pd.DataFrame:
    """Exports, imports and balance in two years and their change (US$ billion)."""
    missing = [y for y in (base_year, compare_year) if y not in series.index]
    if missing:
        raise ValueError(f"year(s) {missing} not in the series ({series.index.min()}-{series.index.max()})")
    table = series.loc[[base_year, compare_year]].T
    table.columns = [str(base_year), str(compare_year)]
    table["change"] = table[str(compare_year)] - table[str(base_year)]
    return table


def auto_imports(enduse: pd.DataFrame, partner: str, year: int) -> pd.DataFrame:
    """US automotive imports from ``partner`` in ``year`` on the end-use basis (US$ billion).

    Returns one row per automotive component (:data:`AUTO_END_USE`), the automotive
    total and all imports from the partner (sum of every 5-digit end-use code).
    """
    code = check_partner(enduse, partner)
    rows = enduse[(enduse["iso3"] == code) & (enduse["year"] == year)]
    if rows.empty:
        years = sorted(enduse["year"].unique())
        raise ValueError(f"no end-use imports for {code} in {year}; the table covers {years[0]}-{years[-1]}")
    parts = {
        name: rows.loc[rows["end_use"].isin(codes), "imports_usd"].sum() / 1e9
        for name, codes in AUTO_END_USE.items()
    }
    parts["automotive total"] = sum(parts.values())
    parts["all imports (end-use total)"] = rows["imports_usd"].sum() / 1e9
    return pd.Series(parts, name="imports_usd_bn").to_frame()


def auto_share_summary(autos: pd.DataFrame, balance_usd_bn: float) -> pd.DataFrame:
    """Automotive imports as a share of all imports and relative to the deficit."""
    total = autos.loc["automotive total", "imports_usd_bn"]
    return pd.DataFrame(
        {
            "value": [
                total,
                total / autos.loc["all imports (end-use total)", "imports_usd_bn"],
                -balance_usd_bn,
                total / -balance_usd_bn if balance_usd_bn < 0 else float("nan"),
            ]
        },
        index=[
            "automotive imports, US$ bn",
            "share of all imports from the partner",
            "goods deficit, US$ bn",
            "automotive imports / goods deficit",
        ],
    )


def compare_with_benchmarks(ours: dict[str, float], benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Set our numbers beside published ones.

    Parameters
    ----------
    ours : dict
        Benchmark id (``benchmarks.csv``) -> our value, in the benchmark's unit.
    benchmarks : DataFrame
        The processed ``benchmarks`` table.

    Returns
    -------
    DataFrame
        ``quantity, period, unit, ours, published, difference, source`` where
        ``published`` is the midpoint of the published range and ``difference`` is
        ours minus published.
    """
    unknown = sorted(set(ours) - set(benchmarks["id"]))
    if unknown:
        raise KeyError(f"benchmark id(s) {unknown} not in benchmarks.csv")
    rows = benchmarks.set_index("id").loc[list(ours)]
    out = pd.DataFrame({
        "quantity": rows["quantity"],
        "period": rows["period"],
        "unit": rows["unit"],
        "ours": pd.Series(ours),
        "published": (rows["value_low"] + rows["value_high"]) / 2,
    })
    out["difference"] = out["ours"] - out["published"]
    out["source"] = rows["source"]
    return out


def top_deficits(annual: pd.DataFrame, year: int, n: int = 10, vintage: str | None = None) -> pd.DataFrame:
    """The ``n`` countries with the largest US goods deficits in ``year`` (US$ billion)."""
    vintage = vintage or latest_vintage(annual)
    rows = annual[(annual["vintage"] == vintage) & (annual["year"] == year)
                  & (annual["partner_kind"] == "country")]
    if rows.empty:
        raise ValueError(f"no Census data for {year} in vintage {vintage}")
    out = rows.groupby("iso3").agg(partner=("partner_name", "first"),
                                   balance_usd_mn=("balance_usd_mn", "sum"))
    out["balance_usd_bn"] = out.pop("balance_usd_mn") / 1000.0
    return out.nsmallest(n, "balance_usd_bn")


def vintage_revisions(annual: pd.DataFrame, partner: str) -> pd.DataFrame:
    """The partner's balance in each Census vintage and the revision between them."""
    code = check_partner(annual, partner)
    rows = annual[(annual["iso3"] == code) & (annual["months_reported"] == 12)]
    wide = rows.groupby(["year", "vintage"])["balance_usd_mn"].sum().unstack("vintage") / 1000.0
    wide.columns = [f"balance_usd_bn_{v}" for v in wide.columns]
    if wide.shape[1] == 2:
        wide["revision"] = wide.iloc[:, 1] - wide.iloc[:, 0]
    return wide.dropna()


def benchmark_partner(quantity: str) -> str | None:
    """ISO3 code of the country a published quantity is about (the name after its last
    'with', 'to' or 'from'), e.g. 'US goods exports to Korea' -> 'KOR'."""
    import re

    from .partners import name_to_iso3

    match = re.search(r"\b(?:with|to|from)\s+([A-Z][A-Za-z .,'-]+?)(?:\s+(?:due|in|from|by)\b|\s*\(|$)", quantity)
    return name_to_iso3(match.group(1).strip()) if match else None


#: Published quantities we can compute from the Census tables, by the start of their
#: ``quantity`` text in benchmarks.csv (followed by the partner's name).
_COMPUTABLE = {
    "us goods trade balance with": "balance_usd_bn",
    "us goods exports to": "exports_usd_bn",
    "us goods imports from": "imports_usd_bn",
}
_AUTO_SHARE = "automotive share of the us goods deficit"


def our_benchmark_values(benchmarks: pd.DataFrame, partner: str, series: pd.DataFrame,
                         auto_import_ratio: dict[int, float] | None = None) -> dict[str, float]:
    """Our values for every published figure about ``partner`` we can compute.

    Goods balance, exports and imports in a year come from ``series``
    (:func:`partner_annual`); the automotive share of the deficit is matched with our
    automotive *imports* relative to the deficit (``auto_import_ratio``: year -> ratio),
    because end-use exports are not in the offline data (a stated difference in
    definitions).
    """
    code = partner.upper()
    ours: dict[str, float] = {}
    for row in benchmarks.itertuples():
        text = row.quantity.lower()
        if benchmark_partner(row.quantity) != code or not str(row.period).isdigit():
            continue
        year = int(row.period)
        for prefix, column in _COMPUTABLE.items():
            if text.startswith(prefix) and year in series.index:
                ours[row.id] = float(series.loc[year, column])
        if text.startswith(_AUTO_SHARE) and auto_import_ratio and year in auto_import_ratio:
            ours[row.id] = float(auto_import_ratio[year])
    return ours


#: The Comtrade HS chapter of vehicles and parts (the autos of the net balance and of the change).
AUTOS_HS2 = "87"
#: Row labels of :func:`autos_reconciliation`, in order: (a) gross, (b) net, (c) share of the change.
AUTOS_GROSS = "(a) gross automotive imports / goods deficit"
AUTOS_NET = "(b) autos net balance / goods deficit"
AUTOS_CHANGE = "(c) autos share of the change in the balance"


def autos_reconciliation(enduse: pd.DataFrame, comtrade: pd.DataFrame, annual: pd.DataFrame, partner: str,
                         base_year: int, compare_year: int, vintage: str | None = None) -> pd.DataFrame:
    """The claim "autos are X% of the deficit" measured three ways, side by side.

    (a) **Gross** automotive imports over the goods deficit: Census end-use cars plus parts
    (:data:`AUTO_END_USE`, customs value) over the Census goods deficit, compare year. This
    sets an import flow beside a balance: it is not a share (exports of autos are not netted,
    and the ratio can exceed 1).

    (b) **Net**: the autos balance (Comtrade HS 87 exports minus imports) over the goods deficit
    on the same basis (Comtrade, every HS chapter: exports FOB minus imports CIF), compare year.
    This is the part of the deficit that autos trade accounts for. End-use *exports* are not in
    the offline data, which is why the net balance is taken from Comtrade.

    (c) **Share of the change**: the HS 87 contribution to the change in the Comtrade balance
    between the base and compare years over that change (the named-group decomposition of
    notebook 02: :func:`korus_research.decomposition.balance_contributions` and
    :func:`~korus_research.decomposition.autos_share_of_change`).

    Parameters
    ----------
    enduse, comtrade, annual : DataFrame
        The processed tables ``enduse_imports``, ``comtrade_hs2`` and ``census_annual``.
    partner : str
        ISO3 code.
    base_year, compare_year : int
        The study's years.
    vintage : str, optional
        Census vintage of ``annual`` (default: the latest).

    Returns
    -------
    DataFrame
        Index ``measure`` (:data:`AUTOS_GROSS`, :data:`AUTOS_NET`, :data:`AUTOS_CHANGE`, only
        those the data support); columns ``period``, ``numerator_usd_bn``, ``denominator_usd_bn``,
        ``share`` (numerator / denominator), ``kind`` (``gross``, ``net`` or ``change``),
        ``numerator_basis``, ``denominator_basis`` (what each is, with its basis) and ``source``
        (processed tables and raw files). ``attrs["missing"]``: measure -> why the data cannot give it;
        ``attrs["census_deficit_usd_bn"]``: the Census goods deficit of the compare year (or
        ``None``).
    """
    from . import decomposition
    from .errors import EstimationError

    code = partner.upper()
    rows: dict[str, dict] = {}
    missing: dict[str, str] = {}
    components: dict[str, float] = {}
    series = partner_annual(annual, code, vintage)
    census_deficit = -float(series.loc[compare_year, "balance_usd_bn"]) if compare_year in series.index else None

    # (a) gross: Census end-use automotive imports over the Census goods deficit
    enduse_years = sorted(enduse.loc[enduse["iso3"] == code, "year"].unique())
    if census_deficit is None:
        missing[AUTOS_GROSS] = f"no complete Census year {compare_year} for {code}"
    elif compare_year not in enduse_years:
        span = f"{enduse_years[0]}-{enduse_years[-1]}" if enduse_years else "no year"
        missing[AUTOS_GROSS] = f"the end-use imports cover {span} for {code}, not the compare year {compare_year}"
    elif census_deficit <= 0:
        missing[AUTOS_GROSS] = f"the US had no goods deficit with {code} in {compare_year} (Census basis)"
    else:
        gross = float(auto_imports(enduse, code, compare_year).loc["automotive total", "imports_usd_bn"])
        rows[AUTOS_GROSS] = dict(
            period=str(compare_year), numerator_usd_bn=gross, denominator_usd_bn=census_deficit, kind="gross",
            numerator_basis="US automotive imports: passenger cars (end use 30000) and parts (302xx), customs value",
            denominator_basis="US goods deficit, Census basis (exports F.A.S. minus general imports, customs value)",
            source="enduse_imports (census/enduse_imports.xlsx); census_annual (census/country.xlsx)")

    # (b) net: Comtrade HS 87 balance over the Comtrade goods deficit, same year and basis
    ct = comtrade[(comtrade["partner_key"] == code) & comtrade["flow"].isin(["export", "import"])
                  & (comtrade["year"] == compare_year)]
    if ct.empty:
        years = sorted(comtrade["year"].unique())
        missing[AUTOS_NET] = (f"the Comtrade table ({years[0]}-{years[-1]}) has no US trade with {code} in {compare_year}")
    else:
        by_flow = ct.groupby("flow")["value_usd"].sum() / 1e9
        autos = ct[ct["hs2"] == AUTOS_HS2].groupby("flow")["value_usd"].sum() / 1e9
        deficit = float(by_flow.get("import", 0.0) - by_flow.get("export", 0.0))
        net = float(autos.get("export", 0.0) - autos.get("import", 0.0))
        components.update(hs87_exports_usd_bn=float(autos.get("export", 0.0)),
                          hs87_imports_usd_bn=float(autos.get("import", 0.0)), comtrade_deficit_usd_bn=deficit)
        if deficit <= 0:
            missing[AUTOS_NET] = f"the US had no goods deficit with {code} in {compare_year} (Comtrade basis)"
        else:
            rows[AUTOS_NET] = dict(
                period=str(compare_year), numerator_usd_bn=-net, denominator_usd_bn=deficit, kind="net",
                numerator_basis="US autos deficit: HS 87 imports (CIF) minus HS 87 exports (FOB)",
                denominator_basis="US goods deficit, Comtrade basis (imports CIF minus exports FOB, every HS chapter)",
                source="comtrade_hs2 (comtrade/US_Trade_HS2_2010-2019.RData, US_Trade_HS2_2007-2013_vintage2015.RData)")

    # (c) the autos share of the change, by notebook 02's decomposition
    autos_group = decomposition.named_group(AUTOS_HS2)
    try:
        panel = decomposition.comtrade_panel(comtrade, code, "named")
    except EstimationError as err:  # the partner is not in the Comtrade table: the reason is recorded
        missing[AUTOS_CHANGE] = str(err)
        panel = None
    if panel is not None:
        years = set(panel["year"])
        if not {base_year, compare_year} <= years:
            missing[AUTOS_CHANGE] = (f"the Comtrade table covers {min(years)}-{max(years)} for {code}, not both "
                                     f"{base_year} and {compare_year}")
        else:
            contributions = decomposition.balance_contributions(panel, base_year, compare_year)
            if autos_group not in contributions.index or contributions.loc["total", "balance_change"] == 0:
                missing[AUTOS_CHANGE] = f"no HS 87 trade with {code} in {base_year} or {compare_year}, or no change"
            else:
                rows[AUTOS_CHANGE] = dict(
                    period=f"{base_year}->{compare_year}",
                    numerator_usd_bn=float(contributions.loc[autos_group, "balance_change"]) / 1e9,
                    denominator_usd_bn=float(contributions.loc["total", "balance_change"]) / 1e9, kind="change",
                    numerator_basis="change in the US autos balance (HS 87 exports minus imports)",
                    denominator_basis="change in the US goods balance, Comtrade basis (every HS chapter)",
                    source="comtrade_hs2 (comtrade/US_Trade_HS2_2010-2019.RData, US_Trade_HS2_2007-2013_vintage2015.RData)")
                rows[AUTOS_CHANGE]["share"] = decomposition.autos_share_of_change(contributions, autos_group)

    order = [m for m in (AUTOS_GROSS, AUTOS_NET, AUTOS_CHANGE) if m in rows]
    out = pd.DataFrame([rows[m] for m in order], index=pd.Index(order, name="measure"),
                       columns=["period", "share", "numerator_usd_bn", "denominator_usd_bn", "kind", "numerator_basis",
                                "denominator_basis", "source"])
    fill = out["share"].isna()
    out.loc[fill, "share"] = out.loc[fill, "numerator_usd_bn"] / out.loc[fill, "denominator_usd_bn"]
    out["share"] = out["share"].astype(float)
    out.attrs["missing"] = missing
    out.attrs["census_deficit_usd_bn"] = census_deficit
    out.attrs["components"] = components
    return out


def published_auto_share(benchmarks: pd.DataFrame, partner: str) -> pd.DataFrame:
    """Published "automotive share of the US goods deficit" figures about ``partner``
    (``benchmarks.csv``), in the columns of :func:`autos_reconciliation`.

    Returns
    -------
    DataFrame
        Index ``measure`` (``published: <quantity>``); ``period``, ``share`` (midpoint of the
        published range), ``kind`` ("published"), ``numerator_basis`` (the benchmark's note,
        quoting the publication), ``source``; the dollar columns empty. No rows when there is none.
    """
    code = partner.upper()
    rows = benchmarks[benchmarks["quantity"].str.lower().str.startswith(_AUTO_SHARE)
                      & (benchmarks["quantity"].map(benchmark_partner) == code)]
    out = pd.DataFrame({
        "period": rows["period"].astype(str).to_numpy(),
        "share": ((rows["value_low"] + rows["value_high"]) / 2).to_numpy(dtype=float),
        "numerator_usd_bn": float("nan"), "denominator_usd_bn": float("nan"),
        "kind": "published",
        "numerator_basis": rows["note"].fillna("").astype(str).to_numpy() if "note" in rows else "",
        "denominator_basis": "",
        "source": rows["source"].astype(str).to_numpy(),
    }, index=pd.Index([f"published: {q}" for q in rows["quantity"]], name="measure"))
    return out


def closest_to_published(reconciliation: pd.DataFrame, published: float) -> dict | None:
    """Which level measure of :func:`autos_reconciliation`, gross (a) or net (b), is closer to a
    published "autos share of the deficit".

    Returns ``None`` when neither is in the table; else ``{"measure", "kind", "share",
    "distance", "other"}`` where ``other`` is the same for the measure not chosen (or ``None``).
    """
    levels = reconciliation[reconciliation["kind"].isin(["gross", "net"])]
    if levels.empty or not pd.notna(published):
        return None
    distance = (levels["share"] - float(published)).abs().sort_values(kind="stable")

    def entry(measure):
        return dict(measure=measure, kind=levels.loc[measure, "kind"], share=float(levels.loc[measure, "share"]),
                    distance=float(distance[measure]))

    best = entry(distance.index[0])
    best["other"] = entry(distance.index[1]) if len(distance) > 1 else None
    return best


#: Quantity names of the estimate rows of :func:`autos_claim_rows` ((a) is saved as
#: ``automotive imports / goods deficit`` by notebook 01, as before).
AUTOS_NET_QUANTITY = "autos net balance / goods deficit"
AUTOS_CHANGE_QUANTITY = "autos contribution / change in the balance"


def autos_claim_rows(reconciliation: pd.DataFrame) -> list[dict]:
    """Estimate-table rows (unit ``share``) of the net measure (b) and the share of the change (c)
    of :func:`autos_reconciliation`, for ``store.add_estimates``."""
    spec = {AUTOS_NET: (AUTOS_NET_QUANTITY, "Comtrade HS 87 net balance / Comtrade goods deficit"),
            AUTOS_CHANGE: (AUTOS_CHANGE_QUANTITY, "Comtrade HS 87 contribution (decomposition, named groups)")}
    return [{"quantity": quantity, "estimator": estimator, "period": str(reconciliation.loc[measure, "period"]),
             "unit": "share", "value": float(reconciliation.loc[measure, "share"])}
            for measure, (quantity, estimator) in spec.items() if measure in reconciliation.index]
