"""Staggered difference-in-differences over every US agreement (Callaway-Sant'Anna, Sun-Abraham).

Korea is one of twenty partners that got a US agreement between 1985 and 2012. Instead of
comparing Korea alone with a hand-picked control group, this module puts every partner of the
Census table in one partner-by-period panel, with each partner's **cohort** the period in
which its *first* US agreement entered into force, and estimates group-time average effects
ATT(g, t) that never use an already-treated partner as a control (Callaway and Sant'Anna
2021), plus the interaction-weighted event study of Sun and Abraham (2021).

Design
------
- **Panel** (:func:`staggered_panel`): US exports to and imports from each partner (Census,
  latest vintage, countries only, ISO3 codes summed), annual 1985-2019 by default (the years
  before USMCA, the US-Japan agreement and the pandemic) or quarterly from
  ``census_monthly`` (months summed into quarters, 2005Q1-2019Q4 by default). The panel is
  balanced: a partner enters only if both flows are positive in every period of the window
  (and, for quarters, all three months are reported), and only if its total trade with the
  US (exports + imports) in the *first year of the window* is at least
  :data:`MIN_TRADE_USD_MN` (a size rule measured before any cohort in the panel is treated,
  so it does not select on outcomes after treatment).
- **Cohort**: :func:`korus_research.study.entry_period` of the first agreement (annual: the
  calendar year of entry, so KOR, COL and PAN form the 2012 cohort; quarterly: the quarter).
  A partner treated in the first period of the window or earlier has no pre-period and is
  excluded (ISR in 1985-2019; ISR and CAN in a 1992 window; AUS and the earlier partners in
  the quarterly window). **Never-treated** partners are those with no US agreement.
- **Agreements after the end of the window** (US-Japan 2020; USMCA is never a first
  agreement): with ``late="never"`` (default) the partner is never-treated *within the
  panel* -- all its observed periods are before its entry, so, absent anticipation, they are
  untreated outcomes; ``late="drop"`` leaves it out (for a reader who fears anticipation of
  the 2018-2019 US-Japan talks).
- **Coverage**: before 1992 the Census table holds 73 countries; JOR, MAR, NIC and OMN enter
  in 1992 and so are not in the balanced 1985-2019 panel (they are in a 1992-2019 one, where
  ISR and CAN are excluded instead). Every agreement partner appears in
  :attr:`StaggeredPanel.partners` with its role and, if excluded, the reason.
- **Outcomes** (:data:`OUTCOMES`): ``log_imports`` and ``log_exports`` (log US$ million), and
  ``balance_ratio`` = (X - M) / (X + M), a scale-free balance in [-1, 1] comparable across
  partners. The US$ effect on Korea's balance is built from the two log effects
  (:func:`balance_effect_usd`): with ``a_x`` and ``a_m`` the ATT(g, t) on log exports and
  log imports in year t, the counterfactual flows are ``X_t exp(-a_x)`` and ``M_t exp(-a_m)``
  and the effect on the balance is ``X_t (1 - exp(-a_x)) - M_t (1 - exp(-a_m))``.
- **Quarterly outcomes** are seasonally adjusted: each partner's mean of the outcome by
  quarter of the year over the window is removed (and its overall mean added back), since
  ATT(g, t) compares quarter t with quarter g-1 and partners' seasonal patterns differ.

Estimators
----------
:func:`callaway_santanna` fits ``diff_diff.CallawaySantAnna`` (no covariates, so the
outcome-regression, IPW and doubly robust forms are the same simple 2x2 comparison) with
never-treated (``"never"``) or not-yet-treated (``"notyet"``) controls and aggregates to
cohorts, event time (with a joint Wald test that the pre-period effects are zero), the
pooled effect and each agreement partner's own effect (the partner as a group of one).
:func:`sun_abraham` fits ``diff_diff.SunAbraham``; in a balanced panel without covariates
its cohort-by-event-time effects equal CS ATT(g, g+e) with never-treated controls and a
universal base period (checked in ``tests/test_staggered.py``, also against a saturated
pyfixest regression). Standard errors are the libraries' analytic ones (CS: influence
function by partner; SA: clustered by partner); intervals use the normal quantile from
scipy where computed here.

Inference for one partner: a partner's own effect (Korea alone) rests on one treated unit;
its analytic standard error, its pre-trend test and the partner-level bootstrap of
:func:`balance_effect_usd` reflect only the sampling of the comparison partners. The
placebo inference of :func:`placebo_inference` (each never-treated partner in turn given the
partner's cohort; Conley and Taber 2011) adds the partner's own shocks and is what
:func:`forest_table` draws by default.

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. Journal of Econometrics 225(2), 200-230.
Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event studies with
    heterogeneous treatment effects. Journal of Econometrics 225(2), 175-199.
Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel
    trends. American Economic Review: Insights 4(3), 305-322.
Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with a
    small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import agreements
from .balance import latest_vintage
from .effects import partner_panel, partner_panel_monthly
from .errors import DataError, EstimationError, ParameterError
from .study import Study, entry_period

#: Outcomes of the design: column -> description with units (used as axis labels).
OUTCOMES: dict[str, str] = {
    "log_imports": "log US imports from the partner (log points)",
    "log_exports": "log US exports to the partner (log points)",
    "balance_ratio": "US balance / (exports + imports) (share, -1 to 1)",
}
#: Control groups: our name -> diff_diff's name.
CONTROL_GROUPS: dict[str, str] = {"never": "never_treated", "notyet": "not_yet_treated"}
#: Frequencies of the panel and the Census table each is built from.
FREQUENCIES: dict[str, str] = {"annual": "census_annual", "quarterly": "census_monthly"}
#: Default windows: annual 1985-2019 (pre-USMCA, pre-2020), quarterly 2005Q1-2019Q4 (wide
#: enough for the 2006-2012 cohorts; a CS call takes about a second).
DEFAULT_WINDOW: dict[str, tuple[str, str]] = {"annual": ("1985", "2019"), "quarterly": ("2005Q1", "2019Q4")}
#: Size rule: total US trade with the partner (exports + imports, US$ million) in the first
#: year of the window must be at least this.
MIN_TRADE_USD_MN = 100.0
#: How a partner whose first agreement enters into force after the window's end is treated.
LATE_RULES = ("never", "drop")
#: Base period of the pre-period ATT(g, t): "universal" (every period against g-1, as the
#: Sun-Abraham and two-way event studies) or "varying" (t against t-1). Post-period effects
#: are the same under both.
BASE_PERIODS = ("universal", "varying")
#: Years after the year of entry of the default year of the US$ effect (the study's rule:
#: Korea 2012 -> 2016).
COMPARE_OFFSET = 4
#: Default number of bootstrap draws and seed of :func:`balance_effect_usd`.
BOOTSTRAP_DRAWS = 999
DEFAULT_SEED = 20120315
#: Roles of a partner in :attr:`StaggeredPanel.partners`.
ROLES = ("treated", "never-treated", "excluded")

_FRAME = "staggered panel"


# ------------------------------------------------------------------------ periods ----
def period_code(period, frequency: str) -> int:
    """Integer code of a period: the year (annual) or ``4 * year + quarter - 1`` (quarterly).

    Consecutive periods have consecutive codes, as ``diff_diff`` needs for ``t - 1``.
    """
    _check_frequency(frequency)
    if frequency == "annual":
        if isinstance(period, pd.Period):
            return int(period.year)
        try:
            return int(str(period))
        except ValueError:
            raise ParameterError("period", period, "a year such as 1985") from None
    try:
        p = period if isinstance(period, pd.Period) else pd.Period(str(period), "Q")
    except (ValueError, TypeError):
        raise ParameterError("period", period, "a quarter such as 2005Q1") from None
    p = p.asfreq("Q")
    return int(p.year) * 4 + int(p.quarter) - 1


def period_label(code: int, frequency: str) -> str:
    """``"2012"`` or ``"2012Q1"`` for a period code (``"never"`` for cohort 0)."""
    code = int(code)
    if code == 0:
        return "never"
    return str(code) if frequency == "annual" else f"{code // 4}Q{code % 4 + 1}"


def period_year(code, frequency: str):
    """Calendar year of a period code (works on arrays)."""
    return code if frequency == "annual" else np.floor_divide(code, 4)


def _check_frequency(frequency: str) -> None:
    if frequency not in FREQUENCIES:
        raise ParameterError("frequency", frequency, list(FREQUENCIES))


def _check_choice(name: str, value, valid: Iterable[str]) -> None:
    valid = list(valid)
    if not isinstance(value, str) or value not in valid:
        raise ParameterError(name, value, valid)


# -------------------------------------------------------------------------- panel ----
@dataclass(frozen=True)
class StaggeredPanel:
    """A balanced partner-by-period panel with each partner's cohort.

    Attributes
    ----------
    data : DataFrame
        One row per partner and period: ``partner, period`` (integer code, see
        :func:`period_code`), ``label``, ``year``, ``exports``, ``imports`` (US$ million),
        the :data:`OUTCOMES`, ``cohort`` (period code of the first agreement; 0 = never
        treated in the panel), ``cohort_label``, ``agreement``.
    partners : DataFrame
        Every partner considered and every US agreement partner: ``partner, agreement,
        entry, cohort, cohort_label, role`` (one of :data:`ROLES`), ``reason``.
    frequency : {"annual", "quarterly"}
    start, end : str
        First and last period (labels).
    vintage : str
        Census vintage used.
    min_trade_usd_mn : float
        Size rule (total trade in ``size_year``).
    size_year : int
    late : {"never", "drop"}
    notes : tuple of str
    """

    data: pd.DataFrame = field(repr=False)
    partners: pd.DataFrame = field(repr=False)
    frequency: str = "annual"
    start: str = ""
    end: str = ""
    vintage: str = ""
    min_trade_usd_mn: float = MIN_TRADE_USD_MN
    size_year: int = 0
    late: str = "never"
    notes: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, frequency: str = "annual", vintage: str = "",
                   agreement: dict[str, str] | None = None) -> StaggeredPanel:
        """Wrap a ready frame (``partner, period, cohort`` and outcome columns) as a panel.

        Used for synthetic panels in tests and for panels built elsewhere; the frame is
        checked (:func:`check_panel`) but no partner is dropped.
        """
        _check_frequency(frequency)
        check_panel(frame, [c for c in OUTCOMES if c in frame] or None)
        data = frame.copy()
        if "label" not in data:
            data["label"] = [period_label(c, frequency) for c in data["period"]]
        if "year" not in data:
            data["year"] = period_year(data["period"].to_numpy(), frequency)
        data["cohort_label"] = [period_label(c, frequency) for c in data["cohort"]]
        if "agreement" not in data:
            names = agreement or {}
            data["agreement"] = [names.get(p, "") if c else "" for p, c in zip(data["partner"], data["cohort"], strict=True)]
        first = data.drop_duplicates("partner").set_index("partner")
        partners = pd.DataFrame({
            "partner": first.index, "agreement": first["agreement"].to_numpy(), "entry": pd.NaT,
            "cohort": first["cohort"].to_numpy(), "cohort_label": first["cohort_label"].to_numpy(),
            "role": np.where(first["cohort"].to_numpy() > 0, "treated", "never-treated"), "reason": ""})
        periods = sorted(data["period"].unique())
        return cls(data=data.sort_values(["partner", "period"]).reset_index(drop=True), partners=partners,
                   frequency=frequency, start=period_label(periods[0], frequency),
                   end=period_label(periods[-1], frequency), vintage=vintage, min_trade_usd_mn=0.0,
                   size_year=int(period_year(periods[0], frequency)))

    @property
    def treated(self) -> list[str]:
        """Partners treated within the panel, by cohort then code."""
        first = self.data.drop_duplicates("partner")
        first = first[first["cohort"] > 0].sort_values(["cohort", "partner"])
        return first["partner"].tolist()

    @property
    def never_treated(self) -> list[str]:
        first = self.data.drop_duplicates("partner")
        return sorted(first.loc[first["cohort"] == 0, "partner"])

    def cohorts(self) -> pd.DataFrame:
        """``cohort, cohort_label, n, partners`` of the treated cohorts in the panel."""
        first = self.data.drop_duplicates("partner")
        first = first[first["cohort"] > 0].sort_values(["cohort", "partner"])
        out = first.groupby("cohort").agg(n=("partner", "size"), partners=("partner", ", ".join)).reset_index()
        out.insert(1, "cohort_label", [period_label(c, self.frequency) for c in out["cohort"]])
        return out

    def cohort_of(self, partner: str) -> int:
        """The partner's cohort code (0 = never treated in the panel)."""
        rows = self.data.loc[self.data["partner"] == partner, "cohort"]
        if rows.empty:
            raise ParameterError("partner", partner, f"a partner of the panel ({self.data['partner'].nunique()} partners, "
                                 f"e.g. {', '.join(self.treated[:5])})", self.why_absent(partner))
        return int(rows.iloc[0])

    def why_absent(self, partner: str) -> str:
        row = self.partners[self.partners["partner"] == partner]
        if row.empty:
            return "not in the panel"
        return f"not in the panel: {row['reason'].iloc[0] or row['role'].iloc[0]}"

    def source_line(self) -> str:
        """The ``Source:`` line of figures made from this panel."""
        if self.source:
            return (f"Source: {self.source}; USTR agreement dates. Panel {self.start}-{self.end}, "
                    f"{self.data['partner'].nunique()} partners.")
        table = FREQUENCIES[self.frequency]
        vintage = f", vintage {self.vintage}" if self.vintage else ""
        return (f"Source: US Census Bureau, US trade in goods by partner ({table}{vintage}); "
                f"USTR agreement dates. Panel {self.start}-{self.end}, "
                f"{self.data['partner'].nunique()} partners.")


def _first_agreements() -> pd.DataFrame:
    table = agreements.agreements_table().sort_values(["entry_into_force", "partner"])
    return table.drop_duplicates("partner", keep="first").set_index("partner")


def _quarterly_flows(monthly: pd.DataFrame, codes: list[str], start: int, end: int) -> pd.DataFrame:
    y0, y1 = start // 4, end // 4
    months = partner_panel_monthly(monthly, codes, y0, y1)
    months["period"] = months["year"] * 4 + (months["month"] - 1) // 3
    out = (months.groupby(["partner", "period"], as_index=False)
           .agg(exports=("exports", "sum"), imports=("imports", "sum"), months=("month", "nunique")))
    return out[out["period"].between(start, end)]


def staggered_panel(table: pd.DataFrame | None = None, frequency: str = "annual", start=None, end=None,
                    min_trade_usd_mn: float = MIN_TRADE_USD_MN, size_year: int | None = None,
                    late: str = "never", deseasonalize: bool | None = None) -> StaggeredPanel:
    """Build the balanced partner-by-period panel of the staggered design.

    Parameters
    ----------
    table : DataFrame, optional
        ``census_annual`` (annual) or ``census_monthly`` (quarterly); read from
        ``data/processed`` when omitted.
    frequency : {"annual", "quarterly"}
    start, end : int or str, optional
        First and last period: years (annual, default 1985 and 2019) or quarters such as
        ``"2005Q1"`` (quarterly, default 2005Q1 and 2019Q4).
    min_trade_usd_mn : float
        A partner enters only if its total trade with the US (exports + imports, US$ million)
        in ``size_year`` is at least this (default :data:`MIN_TRADE_USD_MN`; 0 keeps all).
    size_year : int, optional
        Year of the size rule; default the first year of the window (before any cohort
        of the panel is treated).
    late : {"never", "drop"}
        A partner whose first agreement enters into force after the window's end (JPN for a
        window ending before 2020): never-treated within the panel, or dropped.
    deseasonalize : bool, optional
        Remove each partner's quarter-of-year means from the outcomes (default: True for
        quarterly panels; not used for annual ones).

    Returns
    -------
    StaggeredPanel
        Partners are balanced (both flows positive in every period; for quarters all three
        months reported). Partners treated in the first period or before are excluded (no
        pre-period). :attr:`StaggeredPanel.partners` records every partner considered and
        every agreement partner with its role and reason.

    Raises
    ------
    ParameterError
        Unknown frequency or ``late`` rule, malformed or inverted window, negative size rule.
    EstimationError
        No treated cohort or no never-treated partner is left.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
        time periods. Journal of Econometrics 225(2), 200-230 (Section 2: cohorts, the
        never-treated and not-yet-treated comparison groups, no-anticipation).
    """
    _check_frequency(frequency)
    _check_choice("late", late, LATE_RULES)
    if not isinstance(min_trade_usd_mn, int | float) or isinstance(min_trade_usd_mn, bool) or min_trade_usd_mn < 0:
        raise ParameterError("min_trade_usd_mn", min_trade_usd_mn, "a number >= 0 (US$ million)")
    lo, hi = (period_code(p, frequency) for p in DEFAULT_WINDOW[frequency])
    first, last = (period_code(start, frequency) if start is not None else lo,
                   period_code(end, frequency) if end is not None else hi)
    if first >= last:
        raise ParameterError("start", start, f"a period before end={period_label(last, frequency)}")
    y0, y1 = int(period_year(first, frequency)), int(period_year(last, frequency))
    size_year = y0 if size_year is None else size_year
    if not isinstance(size_year, int) or not y0 <= size_year <= y1:
        raise ParameterError("size_year", size_year, f"a year of the window {y0}-{y1}")
    if deseasonalize is None:
        deseasonalize = frequency == "quarterly"
    if table is None:
        from . import io

        table = io.read_table(FREQUENCIES[frequency])
    vintage = latest_vintage(table)
    countries = table[(table["vintage"] == vintage) & (table["partner_kind"] == "country")]
    codes = sorted(countries["iso3"].dropna().unique())
    if frequency == "annual":
        flows = partner_panel(table, codes, y0, y1).assign(period=lambda d: d["year"], months=12)
    else:
        flows = _quarterly_flows(table, codes, first, last)
    return _select_partners(flows, codes, frequency, first, last, size_year, min_trade_usd_mn, late, str(vintage),
                            deseasonalize)


def _select_partners(flows: pd.DataFrame, codes: list[str], frequency: str, first: int, last: int, size_year: int,
                     min_trade_usd_mn: float, late: str, vintage: str, deseasonalize: bool,
                     source: str = "Census") -> StaggeredPanel:
    """The balanced panel from ``flows`` (``partner, period, exports, imports, months``): every
    partner's role and reason, cohorts from the agreements table, the outcomes."""
    periods = np.arange(first, last + 1)
    size = (flows[period_year(flows["period"], frequency) == size_year]
            .assign(trade=lambda d: d["exports"] + d["imports"]).groupby("partner")["trade"].sum())

    firsts = _first_agreements()
    status: dict[str, dict] = {}

    def record(code: str, role: str, reason: str = "", cohort: int = 0) -> None:
        row = firsts.loc[code] if code in firsts.index else None
        status[code] = {"partner": code, "agreement": "" if row is None else row["agreement"],
                        "entry": pd.NaT if row is None else row["entry_into_force"], "cohort": cohort,
                        "cohort_label": period_label(cohort, frequency) if cohort else "", "role": role,
                        "reason": reason}

    keep: dict[str, int] = {}
    for code in sorted(set(codes) | set(firsts.index)):
        rows = flows[flows["partner"] == code]
        cohort = 0
        if code in firsts.index:
            cohort = period_code(entry_period(firsts.loc[code, "entry_into_force"], frequency), frequency)
        if rows.empty:
            record(code, "excluded", f"not in the {source} table for the window", cohort)
            continue
        missing = sorted(set(periods) - set(rows["period"]))
        bad = sorted(rows.loc[(rows["exports"] <= 0) | (rows["imports"] <= 0) | (rows["months"] < (12 if frequency == "annual" else 3)),
                              "period"])
        if missing or bad:
            parts = []
            if missing:
                parts.append(f"no data in {_span(missing, frequency)}")
            if bad:
                parts.append(f"zero flow or incomplete period in {_span(bad, frequency)}")
            record(code, "excluded", "not balanced: " + "; ".join(parts), cohort)
            continue
        if float(size.get(code, 0.0)) < min_trade_usd_mn:
            record(code, "excluded", f"total trade {float(size.get(code, 0.0)):.1f} < {min_trade_usd_mn:g} US$ mn in {size_year}",
                   cohort)
            continue
        if cohort and cohort <= first:
            record(code, "excluded", f"treated from {period_label(cohort, frequency)}, at or before the first period "
                   f"{period_label(first, frequency)}: no pre-period", cohort)
            continue
        if cohort > last:
            if late == "drop":
                record(code, "excluded", f"first agreement in force from {period_label(cohort, frequency)}, after the "
                       f"window (late='drop')", cohort)
                continue
            record(code, "never-treated", f"first agreement in force from {period_label(cohort, frequency)}, after the "
                   "window: untreated in every period of the panel (late='never')", 0)
            keep[code] = 0
            continue
        record(code, "treated" if cohort else "never-treated", "", cohort)
        keep[code] = cohort

    data = flows[flows["partner"].isin(keep)].drop(columns="months").copy()
    data["cohort"] = data["partner"].map(keep).astype(int)
    data["log_imports"] = np.log(data["imports"])
    data["log_exports"] = np.log(data["exports"])
    data["balance_ratio"] = (data["exports"] - data["imports"]) / (data["exports"] + data["imports"])
    notes = []
    if deseasonalize and frequency == "quarterly":
        quarter = data["period"] % 4
        for outcome in OUTCOMES:
            seasonal = data.groupby(["partner", quarter])[outcome].transform("mean")
            data[outcome] = data[outcome] - seasonal + data.groupby("partner")[outcome].transform("mean")
        notes.append("outcomes seasonally adjusted: partner-by-quarter-of-year means over the window removed")
    data["year"] = period_year(data["period"], frequency).astype(int)
    data["label"] = [period_label(c, frequency) for c in data["period"]]
    data["cohort_label"] = [period_label(c, frequency) for c in data["cohort"]]
    data["agreement"] = [firsts.loc[p, "agreement"] if c and p in firsts.index else ""
                         for p, c in zip(data["partner"], data["cohort"], strict=True)]
    data = data[["partner", "period", "label", "year", "exports", "imports", *OUTCOMES, "cohort", "cohort_label",
                 "agreement"]].sort_values(["partner", "period"]).reset_index(drop=True)
    partners = pd.DataFrame(list(status.values()))
    partners["_agreement"] = partners["partner"].isin(firsts.index)
    partners = (partners.sort_values(["_agreement", "role", "cohort", "partner"], ascending=[False, True, True, True])
                .drop(columns="_agreement").reset_index(drop=True))
    panel = StaggeredPanel(data=data, partners=partners, frequency=frequency, start=period_label(first, frequency),
                           end=period_label(last, frequency), vintage=vintage,
                           min_trade_usd_mn=float(min_trade_usd_mn), size_year=size_year, late=late,
                           notes=tuple(notes))
    if not panel.treated:
        raise EstimationError(f"no treated cohort in the {frequency} panel {panel.start}-{panel.end}: every agreement "
                              "partner is excluded (see the size rule and the window)")
    if not panel.never_treated:
        raise EstimationError(f"no never-treated partner in the {frequency} panel {panel.start}-{panel.end}")
    return panel


def _span(codes: list[int], frequency: str, limit: int = 4) -> str:
    """Periods as runs: ``1985-1991, 1995`` (at most ``limit`` runs shown)."""
    runs: list[list[int]] = []
    for c in sorted(codes):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    text = [period_label(a, frequency) if a == b else f"{period_label(a, frequency)}-{period_label(b, frequency)}"
            for a, b in runs[:limit]]
    return ", ".join(text) + (f" (and {len(runs) - limit} more)" if len(runs) > limit else "")


# -------------------------------------------------------------------- validation ----
def check_panel(frame: pd.DataFrame, outcomes: str | list[str] | None = None) -> None:
    """Check a staggered panel frame: columns, one row per partner and period, balance,
    finite outcomes, one cohort per partner.

    Raises
    ------
    ParameterError
        An outcome that is not one of :data:`OUTCOMES` or not a column of the frame.
    DataError
        Missing columns, duplicated partner-periods, an unbalanced panel (naming the
        partners and their missing periods), non-finite outcomes or a cohort that varies
        within a partner.
    """
    required = ["partner", "period", "cohort"]
    absent = [c for c in required if c not in frame]
    if absent:
        raise DataError(_FRAME, absent[0], f"missing column(s) {absent}; needs partner, period, cohort and an outcome")
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes or [])
    for outcome in outcomes:
        if outcome not in OUTCOMES and outcome not in frame:
            raise ParameterError("outcome", outcome, list(OUTCOMES))
        if outcome not in frame:
            raise ParameterError("outcome", outcome, [c for c in OUTCOMES if c in frame] or list(OUTCOMES),
                                 "not a column of the panel")
    dup = frame.duplicated(["partner", "period"], keep=False)
    if dup.any():
        pairs = sorted({f"{p} {t}" for p, t in zip(frame.loc[dup, "partner"], frame.loc[dup, "period"], strict=True)})
        raise DataError(_FRAME, "partner+period", "duplicated partner-periods", pairs)
    periods = set(frame["period"])
    by_partner = frame.groupby("partner")["period"].agg(set)
    holes = {p: sorted(periods - s) for p, s in by_partner.items() if len(s) < len(periods)}
    if holes:
        rows = [f"{p} missing {', '.join(str(t) for t in m[:5])}{' ...' if len(m) > 5 else ''}" for p, m in holes.items()]
        raise DataError(_FRAME, "period", f"panel not balanced: {len(holes)} partner(s) lack periods that others have "
                        f"({min(periods)}-{max(periods)}); drop them or narrow the window", rows)
    for outcome in outcomes:
        values = pd.to_numeric(frame[outcome], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            rows = [f"{p} {t}" for p, t in zip(frame.loc[bad, "partner"], frame.loc[bad, "period"], strict=True)]
            raise DataError(_FRAME, outcome, "non-finite values (a zero flow has no log)", rows)
    varying = frame.groupby("partner")["cohort"].nunique()
    if (varying > 1).any():
        raise DataError(_FRAME, "cohort", "cohort varies within a partner", varying[varying > 1].index.tolist())


def _prepared(panel, outcome: str, control_group: str) -> tuple[pd.DataFrame, str]:
    """Validate the inputs of an estimator; return the frame and the frequency."""
    _check_choice("control_group", control_group, CONTROL_GROUPS)
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise ParameterError("outcome", outcome, list(OUTCOMES))
    if isinstance(panel, StaggeredPanel):
        frame, frequency = panel.data, panel.frequency
    elif isinstance(panel, pd.DataFrame):
        frame, frequency = panel, "annual"
    else:
        raise ParameterError("panel", type(panel).__name__, "a StaggeredPanel (staggered_panel) or a DataFrame")
    check_panel(frame, outcome)
    first, last = frame["period"].min(), frame["period"].max()
    cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    early = cohorts[(cohorts > 0) & (cohorts <= first)]
    if len(early):
        raise DataError(_FRAME, "cohort", f"treated at or before the first period {first}: no pre-period; drop them",
                        early.index.tolist())
    late = cohorts[cohorts > last]
    if len(late):
        raise DataError(_FRAME, "cohort", f"cohort after the last period {last}: set it to 0 (never treated within "
                        "the panel) or drop the partner", late.index.tolist())
    if not (cohorts > 0).any():
        raise EstimationError("empty treated cohort: no partner of the panel is treated within it (every cohort is 0)")
    if control_group == "never" and not (cohorts == 0).any():
        raise EstimationError("empty control group: no never-treated partner (cohort 0) in the panel; "
                              "use control_group='notyet' or add never-treated partners")
    return frame, frequency


# ----------------------------------------------------------------------- results ----
@dataclass(frozen=True)
class PretrendTest:
    """Joint Wald test that the pre-period event-study effects are zero.

    ``statistic = b' V^-1 b`` over the leads ``event_times`` (reference rows left out),
    compared with chi-squared(``df``).
    """

    statistic: float
    df: int
    p_value: float
    event_times: tuple[int, ...]
    control_group: str = ""

    def as_dict(self) -> dict:
        return {"pretrend_stat": self.statistic, "pretrend_df": self.df, "pretrend_p": self.p_value,
                "pretrend_leads": ",".join(str(e) for e in self.event_times)}


def pretrend_test(estimates: pd.Series, vcov: pd.DataFrame, leads: int, control_group: str = "") -> PretrendTest:
    """Wald test that the event-study estimates at event times ``-leads .. -1`` are zero.

    Parameters
    ----------
    estimates : Series
        Event-study estimates indexed by event time (reference rows excluded).
    vcov : DataFrame
        Their covariance, indexed by event time on both axes.
    leads : int
        How many pre-periods (event times ``-leads`` to ``-1``) are tested.

    Returns
    -------
    PretrendTest
        NaN statistic and p-value when no lead is estimated. A singular covariance is
        inverted with the pseudo-inverse and ``df`` is its rank.

    References
    ----------
    Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel
        trends. American Economic Review: Insights 4(3), 305-322.
    """
    chosen = [e for e in range(-leads, 0) if e in estimates.index and e in vcov.index
              and np.isfinite(estimates[e]) and np.isfinite(vcov.loc[e, e])]
    if not chosen:
        return PretrendTest(np.nan, 0, np.nan, (), control_group)
    b = estimates.loc[chosen].to_numpy(dtype=float)
    V = vcov.loc[chosen, chosen].to_numpy(dtype=float)
    rank = int(np.linalg.matrix_rank(V))
    stat = float(b @ np.linalg.pinv(V) @ b)
    return PretrendTest(stat, rank, float(stats.chi2.sf(stat, rank)) if rank else np.nan, tuple(chosen), control_group)


def _interval(estimate, se, alpha: float):
    """Normal interval ``estimate -/+ z se`` with z from scipy (no literal quantile)."""
    z = stats.norm.ppf(1 - alpha / 2)
    return estimate - z * se, estimate + z * se


# ------------------------------------------------------------- ATT(g, t) by hand ----
@dataclass(frozen=True)
class _Wide:
    partners: np.ndarray
    periods: np.ndarray
    Y: np.ndarray            # partners x periods
    cohorts: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, outcome: str) -> _Wide:
        wide = frame.pivot(index="partner", columns="period", values=outcome).sort_index()
        cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"].reindex(wide.index)
        return cls(wide.index.to_numpy(), wide.columns.to_numpy(), wide.to_numpy(dtype=float),
                   cohorts.to_numpy(dtype=int))


def _base(g: int, t: int, base_period: str) -> int:
    return g - 1 if (t >= g or base_period == "universal") else t - 1


def _cells(wide: _Wide, treated: np.ndarray, g: int, times: list[int], control_group: str, base_period: str,
           weights: np.ndarray | None = None):
    """ATT(g, t) for ``times`` by hand: ``(Ybar_T,t - Ybar_T,b) - (Ybar_C,t - Ybar_C,b)``.

    ``treated`` is a boolean mask over partners; controls are the never-treated (cohort 0)
    or, for ``notyet``, also partners whose cohort is after both t and the base b (and is
    not g). With ``weights`` (draws x partners, bootstrap counts) returns draws x cells;
    without, returns the estimates and the influence-function matrix (partners x cells),
    ``phi_i = T_i (D_i - mean_T) / n_T - C_i (D_i - mean_C) / n_C``, whose cross-products
    are the cells' covariance (diff_diff's convention for the no-covariate case).
    """
    col = {int(p): j for j, p in enumerate(wide.periods)}
    T = treated.astype(float)
    W = np.ones((1, len(T))) if weights is None else weights
    out = np.empty((W.shape[0], len(times)))
    phi = np.zeros((len(T), len(times)))
    for k, t in enumerate(times):
        b = _base(g, t, base_period)
        D = wide.Y[:, col[t]] - wide.Y[:, col[b]]
        if control_group == "never":
            C = (wide.cohorts == 0)
        else:
            C = (wide.cohorts == 0) | ((wide.cohorts > max(t, b)) & (wide.cohorts != g))
        C = (C & ~treated).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu_t = (W @ (T * D)) / (W @ T)
            mu_c = (W @ (C * D)) / (W @ C)
        out[:, k] = mu_t - mu_c
        if weights is None:
            phi[:, k] = T * (D - mu_t[0]) / T.sum() - C * (D - mu_c[0]) / C.sum()
    return (out, None) if weights is not None else (out[0], phi)


def att_gt_by_hand(panel: StaggeredPanel | pd.DataFrame, outcome: str, cohort: int, control_group: str = "never",
                   base_period: str = "universal", treated: list[str] | None = None) -> pd.DataFrame:
    """ATT(g, t) of one cohort by the textbook formula (the no-covariate case).

    ``ATT(g, t) = (Ybar_g,t - Ybar_g,b) - (Ybar_C,t - Ybar_C,b)`` with ``b = g - 1`` (every
    post period, and every period under a universal base) or ``b = t - 1`` (pre periods under
    a varying base); ``C`` = never-treated partners, or for ``notyet`` never-treated plus
    partners of other cohorts first treated after both ``t`` and ``b``.

    Parameters
    ----------
    panel : StaggeredPanel or DataFrame
    outcome : str
    cohort : int
        Period code of the cohort.
    control_group : {"never", "notyet"}
    base_period : {"universal", "varying"}
    treated : list of str, optional
        The treated partners (default: every partner of the cohort; one partner gives its
        effect as a group of one).

    Returns
    -------
    DataFrame
        ``period, base, event_time, estimate, se, n, n_control`` (the reference period of a
        universal base is left out; ``se`` from the influence function).

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
        time periods. Journal of Econometrics 225(2), 200-230 (eq. 2.5 and 2.7).
    """
    frame, _ = _prepared(panel, outcome, control_group)
    _check_choice("base_period", base_period, BASE_PERIODS)
    wide = _Wide.of(frame, outcome)
    members = wide.partners[wide.cohorts == cohort]
    if cohort == 0 or not len(members):
        raise EstimationError(f"empty cohort {cohort}: no partner of the panel is first treated then; cohorts: "
                              f"{sorted(set(wide.cohorts[wide.cohorts > 0].tolist()))}")
    chosen = list(members) if treated is None else list(treated)
    stray = [p for p in chosen if p not in set(members)]
    if stray or not chosen:
        raise ParameterError("treated", treated, f"partners of cohort {cohort}: {', '.join(members)}")
    mask = np.isin(wide.partners, chosen)
    times = _cell_times(wide.periods, cohort, base_period)
    est, phi = _cells(wide, mask, cohort, times, control_group, base_period)
    rows = []
    for k, t in enumerate(times):
        b = _base(cohort, t, base_period)
        C = (wide.cohorts == 0) if control_group == "never" else (
            (wide.cohorts == 0) | ((wide.cohorts > max(t, b)) & (wide.cohorts != cohort)))
        rows.append({"period": t, "base": b, "event_time": t - cohort, "estimate": est[k],
                     "se": float(np.sqrt(phi[:, k] @ phi[:, k])), "n": int(mask.sum()), "n_control": int((C & ~mask).sum())})
    return pd.DataFrame(rows)


def _cell_times(periods: np.ndarray, g: int, base_period: str) -> list[int]:
    """The periods with an ATT(g, t): every period whose base is observed, less the
    universal reference period g - 1."""
    have = set(int(p) for p in periods)
    return [int(t) for t in periods if _base(g, int(t), base_period) in have
            and not (base_period == "universal" and t == g - 1)]


# --------------------------------------------------------------------- estimators ----
def _fit_cs(frame: pd.DataFrame, outcome: str, control_group: str, base_period: str, alpha: float):
    from diff_diff import CallawaySantAnna

    model = CallawaySantAnna(control_group=CONTROL_GROUPS[control_group], estimation_method="reg",
                             base_period=base_period, alpha=alpha)
    return model.fit(frame, outcome=outcome, unit="partner", time="period", first_treat="cohort")


def _event_table(es, control_group: str, sizes: dict[int, int], periods: np.ndarray) -> pd.DataFrame:
    """Tidy event-study table from diff_diff's EventStudyResults (public fields)."""
    table = pd.DataFrame({"event_time": np.asarray(es.event_time, dtype=int), "estimate": np.asarray(es.att, float),
                          "se": np.asarray(es.se, float), "ci_low": np.asarray(es.conf_int_lower, float),
                          "ci_high": np.asarray(es.conf_int_upper, float), "n_cohorts": np.asarray(es.n, float),
                          "reference": np.asarray(es.is_reference, bool)})
    table["n"] = _partners_at(table["event_time"], sizes, periods)
    table["control_group"] = control_group
    return table[["event_time", "estimate", "se", "ci_low", "ci_high", "n", "n_cohorts", "reference", "control_group"]]


def _partners_at(event_times, sizes: dict[int, int], periods: np.ndarray) -> list[int]:
    lo, hi = int(periods.min()), int(periods.max())
    return [sum(n for g, n in sizes.items() if lo <= g + int(e) <= hi) for e in event_times]


def _vcov_frame(vcov, index) -> pd.DataFrame:
    index = [int(e) for e in index]
    return pd.DataFrame(np.asarray(vcov, dtype=float), index=index, columns=index)


def _post_average(table: pd.DataFrame, vcov: pd.DataFrame, horizon: int | None, alpha: float) -> dict:
    """Equally weighted mean of the post-period event-study effects (event times 0 to
    ``horizon``), its standard error ``sqrt(w' V w)`` from the event-study covariance."""
    post = table[(table["event_time"] >= 0) & ~table["reference"] & table["estimate"].notna()]
    if horizon is not None:
        post = post[post["event_time"] <= horizon]
    if post.empty:
        return {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}
    e = post["event_time"].tolist()
    w = np.full(len(e), 1 / len(e))
    estimate = float(w @ post["estimate"].to_numpy())
    se = float(np.sqrt(w @ vcov.loc[e, e].to_numpy() @ w))
    low, high = _interval(estimate, se, alpha)
    return {"estimate": estimate, "se": se, "ci_low": low, "ci_high": high, "n": len(e)}


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ParameterError(name, value, f"a whole number >= {low}")


def _check_alpha(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ParameterError(name, value, "a number strictly between 0 and 1")


#: Largest gap allowed between diff_diff and the hand formula (estimates and standard errors).
HAND_TOLERANCE = 1e-8


def partner_event_study(panel: StaggeredPanel | pd.DataFrame, partner: str | list[str], outcome: str = "log_imports",
                        control_group: str = "never", base_period: str = "universal",
                        alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Callaway-Sant'Anna event study of one treated partner (a group of one) or of a
    set of partners of one cohort (the whole cohort: that cohort's own event study).

    The cohort-mates not in ``partner`` are left out of the fit (they are treated at the
    same time and would join the group); with never-treated controls the other cohorts are
    left out too, with not-yet-treated controls they stay (CS uses them only while
    untreated). Estimates and standard errors are diff_diff's ATT(g, t); their covariance
    across event times is the cross-product of the influence functions computed by hand
    (:func:`att_gt_by_hand`), whose estimates and standard errors are checked against
    diff_diff to :data:`HAND_TOLERANCE` (diff_diff does not expose the covariance of one
    cohort's cells).

    Returns
    -------
    (DataFrame, DataFrame)
        The event study (columns as :attr:`CSResult.event_study`, the reference row of a
        universal base included) and the covariance of its non-reference rows, indexed by
        event time.

    Raises
    ------
    ParameterError
        A partner that is not treated in the panel, partners of different cohorts; unknown
        outcome or control group.
    EstimationError
        diff_diff and the hand formula disagree.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
        time periods. Journal of Econometrics 225(2), 200-230.
    """
    frame, _ = _prepared(panel, outcome, control_group)
    _check_choice("base_period", base_period, BASE_PERIODS)
    _check_alpha("alpha", alpha)
    cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    chosen = [partner] if isinstance(partner, str) else list(partner)
    treated_codes = ", ".join(sorted(cohorts[cohorts > 0].index))
    for code in chosen:
        if code not in cohorts.index or cohorts[code] == 0:
            why = "not treated within the panel (cohort 0)" if code in cohorts.index else (
                panel.why_absent(code) if isinstance(panel, StaggeredPanel) else "not in the panel")
            raise ParameterError("partner", partner, f"a treated partner of the panel: {treated_codes}", why)
    if not chosen or cohorts[chosen].nunique() > 1:
        raise ParameterError("partner", partner, "one treated partner, or partners of one cohort",
                             "empty list" if not chosen else "partners of different cohorts")
    g = int(cohorts[chosen[0]])
    keep = (cohorts == 0) if control_group == "never" else (cohorts != g)
    sub = frame[frame["partner"].isin(cohorts.index[keep | cohorts.index.isin(chosen)])]
    fit = _fit_cs(sub, outcome, control_group, base_period, alpha)
    cells = {int(t): v for (gg, t), v in fit.group_time_effects.items() if int(gg) == g}
    wide = _Wide.of(sub, outcome)
    times = _cell_times(wide.periods, g, base_period)
    est, phi = _cells(wide, np.isin(wide.partners, chosen), g, times, control_group, base_period)
    theirs = np.array([cells[t]["effect"] for t in times], dtype=float)
    their_se = np.array([cells[t]["se"] for t in times], dtype=float)
    ours_se = np.sqrt(np.einsum("ij,ij->j", phi, phi))
    if not (np.allclose(est, theirs, rtol=0, atol=HAND_TOLERANCE)
            and np.allclose(ours_se, their_se, rtol=HAND_TOLERANCE, atol=HAND_TOLERANCE)):
        raise EstimationError(f"ATT(g, t) of {partner} by hand differs from diff_diff by "
                              f"{np.nanmax(np.abs(est - theirs)):.2e} (estimates), "
                              f"{np.nanmax(np.abs(ours_se - their_se)):.2e} (standard errors)")
    rows = [{"event_time": t - g, "estimate": cells[t]["effect"], "se": cells[t]["se"],
             "ci_low": cells[t]["conf_int"][0], "ci_high": cells[t]["conf_int"][1], "reference": False} for t in times]
    if base_period == "universal" and (g - 1) in cells:
        rows.append({"event_time": -1, "estimate": 0.0, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                     "reference": True})
    table = pd.DataFrame(rows).sort_values("event_time").reset_index(drop=True)
    table["n"], table["n_cohorts"], table["control_group"] = len(chosen), 1.0, control_group
    table = table[["event_time", "estimate", "se", "ci_low", "ci_high", "n", "n_cohorts", "reference", "control_group"]]
    return table, _vcov_frame(phi.T @ phi, [t - g for t in times])


#: Fewest never-treated partners for placebo inference.
MIN_PLACEBOS = 5


def _placebo_cells(wide: _Wide, g: int, times: list[int], base_period: str) -> np.ndarray:
    """Placebo ATT(g, t) of every never-treated partner j against the other never-treated
    partners (leave one out): ``D_j - mean_{i != j} D_i`` (never-treated x cells)."""
    col = {int(p): j for j, p in enumerate(wide.periods)}
    never = wide.cohorts == 0
    n = int(never.sum())
    D = np.column_stack([wide.Y[never, col[t]] - wide.Y[never, col[_base(g, t, base_period)]] for t in times])
    return D - (D.sum(axis=0) - D) / (n - 1)


def placebo_inference(panel: StaggeredPanel | pd.DataFrame, partner: str, outcome: str = "log_imports",
                      base_period: str = "universal", horizon: int | None = None, pretrend_leads: int = 5,
                      alpha: float = 0.05, estimate: float | None = None) -> dict:
    """Placebo inference for one treated partner (Conley and Taber 2011).

    With one treated partner the analytic standard error of its effect reflects only the
    sampling of the comparison partners, not the partner's own idiosyncratic shocks. Here
    every never-treated partner j in turn is treated as if it belonged to the partner's
    cohort g, and its ATT(g, t) against the other never-treated partners is computed (leave
    one out, by hand): the spread of these placebo effects is the spread of one partner's
    effect without an agreement.

    - Interval for the post-period average effect ``s`` (event times 0..``horizon``):
      ``[s - q(1 - alpha/2), s - q(alpha/2)]`` with ``q`` the quantiles of the placebo
      averages (test inversion under an additive effect).
    - ``placebo_p``: share of placebo averages at least as large in absolute value,
      ``(1 + #{|s_j| >= |s|}) / (1 + J)``.
    - ``placebo_pretrend_p``: the Wald statistic of the leads ``-pretrend_leads .. -1``
      (reference left out) with the covariance of the placebo leads, ranked among the
      placebos' own statistics.

    Assumes the partner's shocks are exchangeable with those of the never-treated partners;
    small partners' flows are more volatile than Korea's, which makes the interval wide
    rather than narrow.

    Parameters
    ----------
    panel, partner, outcome, base_period, horizon, pretrend_leads, alpha
        As in :func:`callaway_santanna`.
    estimate : float, optional
        Centre of the interval (default: the partner's never-treated post average).

    Returns
    -------
    dict
        ``estimate, placebo_ci_low, placebo_ci_high, placebo_p, placebo_pretrend_p,
        n_placebo``.

    Raises
    ------
    EstimationError
        Fewer than :data:`MIN_PLACEBOS` never-treated partners.

    References
    ----------
    Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with
        a small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    """
    frame, _ = _prepared(panel, outcome, "never")
    _check_choice("base_period", base_period, BASE_PERIODS)
    cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    if partner not in cohorts.index or cohorts[partner] == 0:
        raise ParameterError("partner", partner, f"a treated partner of the panel: {', '.join(sorted(cohorts[cohorts > 0].index))}")
    n_never = int((cohorts == 0).sum())
    if n_never < MIN_PLACEBOS:
        raise EstimationError(f"placebo inference needs at least {MIN_PLACEBOS} never-treated partners; the panel has {n_never}")
    g = int(cohorts[partner])
    wide = _Wide.of(frame, outcome)
    times = _cell_times(wide.periods, g, base_period)
    actual, _ = _cells(wide, wide.partners == partner, g, times, "never", base_period)
    placebo = _placebo_cells(wide, g, times, base_period)
    e = np.array(times) - g
    post = (e >= 0) & ((e <= horizon) if horizon is not None else True)
    s = float(actual[post].mean()) if estimate is None else float(estimate)
    s_j = placebo[:, post].mean(axis=1)
    q_low, q_high = np.quantile(s_j, [alpha / 2, 1 - alpha / 2])
    out = {"estimate": s, "placebo_ci_low": s - q_high, "placebo_ci_high": s - q_low,
           "placebo_p": float((1 + np.sum(np.abs(s_j) >= abs(s))) / (1 + len(s_j))), "placebo_pretrend_p": np.nan,
           "n_placebo": int(len(s_j))}
    leads = (e >= -pretrend_leads) & (e < 0)
    if leads.any():
        B, b = placebo[:, leads], actual[leads]
        inverse = np.linalg.pinv(np.atleast_2d(np.cov(B, rowvar=False)))
        stat = float(b @ inverse @ b)
        stats_j = np.einsum("ij,jk,ik->i", B, inverse, B)
        out["placebo_pretrend_p"] = float((1 + np.sum(stats_j >= stat)) / (1 + len(stats_j)))
    return out


@dataclass(frozen=True)
class CSResult:
    """Callaway-Sant'Anna estimates for one outcome and one control group.

    Every table carries ``estimate, se, ci_low, ci_high, n`` and ``control_group``.

    Attributes
    ----------
    group_time : DataFrame
        ATT(g, t): ``cohort, cohort_label, period, label, event_time, estimate, se, ci_low,
        ci_high, n`` (treated partners), ``n_control, reference``.
    cohorts : DataFrame
        Each cohort's average post-period effect (diff_diff's "group" aggregation):
        ``cohort, cohort_label, partners, estimate, se, ci_low, ci_high, n`` (partners),
        ``n_periods``, ``pretrend_p`` (the test of the cohort's own event study).
    event_study : DataFrame
        ``event_time, estimate, se, ci_low, ci_high, n`` (partners observed at that event
        time), ``n_cohorts, reference``.
    pretrend : PretrendTest
        Joint Wald test that the pooled event study's leads are zero.
    overall : DataFrame
        One row: the pooled effect of US agreements (diff_diff's "simple" aggregation: the
        post-period ATT(g, t) weighted by cohort size); ``n`` = treated partners.
    partners : DataFrame
        Every treated partner as a group of one, for a forest plot: ``partner, agreement,
        cohort, cohort_label, estimate, se, ci_low, ci_high, n`` (post periods averaged),
        ``pretrend_p`` (analytic: too small, see the notes), and the placebo inference of
        :func:`placebo_inference`: ``placebo_ci_low, placebo_ci_high, placebo_p,
        placebo_pretrend_p``.
    focus : str
        The partner studied; ``focus_event_study`` and ``focus_pretrend`` are its own
        event study and pre-trend test.
    """

    outcome: str
    control_group: str
    base_period: str
    frequency: str
    alpha: float
    group_time: pd.DataFrame = field(repr=False)
    cohorts: pd.DataFrame = field(repr=False)
    event_study: pd.DataFrame = field(repr=False)
    pretrend: PretrendTest
    overall: pd.DataFrame = field(repr=False)
    partners: pd.DataFrame = field(repr=False)
    focus: str = ""
    focus_event_study: pd.DataFrame | None = field(default=None, repr=False)
    focus_pretrend: PretrendTest | None = None
    horizon: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def pooled(self) -> pd.Series:
        """The pooled effect (``estimate, se, ci_low, ci_high, n``)."""
        return self.overall.iloc[0]

    def summary(self) -> pd.DataFrame:
        """Key numbers: the pooled effect, the focus partner's cohort and the focus partner
        alone, with the pre-trend tests of the pooled and of the focus event studies.

        ``n`` counts partners (pooled effect, cohort) or the post periods averaged (the
        partner alone); the placebo columns are filled for the partner alone."""
        cols = ["estimate", "se", "ci_low", "ci_high", "n"]
        rows = [{"quantity": "pooled effect of US agreements", **self.pooled[cols].to_dict(),
                 **self.pretrend.as_dict()}]
        own = self.partners[self.partners["partner"] == self.focus] if self.focus else self.partners.iloc[:0]
        if len(own):
            label = own["cohort_label"].iloc[0]
            cohort = self.cohorts[self.cohorts["cohort_label"] == label]
            rows.append({"quantity": f"cohort {label} ({cohort['partners'].iloc[0]})", **cohort.iloc[0][cols].to_dict(),
                         "pretrend_p": cohort["pretrend_p"].iloc[0]})
            pre = self.focus_pretrend.as_dict() if self.focus_pretrend else {}
            placebo = own.iloc[0][["placebo_ci_low", "placebo_ci_high", "placebo_p", "placebo_pretrend_p"]].to_dict()
            rows.append({"quantity": f"{self.focus} alone (group of one)", **own.iloc[0][cols].to_dict(), **pre,
                         **placebo})
        out = pd.DataFrame(rows)
        out.insert(0, "control_group", self.control_group)
        out.insert(0, "outcome", self.outcome)
        return out


def _focus(partner) -> str:
    if isinstance(partner, Study):
        return partner.partner
    if partner is None or isinstance(partner, str):
        return partner or ""
    raise ParameterError("partner", partner, "an ISO3 code such as KOR, a Study, or None")


def callaway_santanna(panel: StaggeredPanel | pd.DataFrame, outcome: str = "log_imports", control_group: str = "never",
                      partner: str | Study | None = "KOR", base_period: str = "universal", pretrend_leads: int = 5,
                      horizon: int | None = None, alpha: float = 0.05, partner_effects: bool = True) -> CSResult:
    """Callaway-Sant'Anna group-time effects of US agreements and their aggregations.

    Parameters
    ----------
    panel : StaggeredPanel or DataFrame
        From :func:`staggered_panel` (or a balanced frame with ``partner, period, cohort``
        and the outcome; cohort 0 = never treated).
    outcome : {"log_imports", "log_exports", "balance_ratio"}
    control_group : {"never", "notyet"}
        Never-treated partners, or never-treated plus not-yet-treated partners (first
        treated after both t and the base period).
    partner : str, Study or None
        The partner studied: its own event study and pre-trend test are kept (``None``:
        none). Must be treated within the panel.
    base_period : {"universal", "varying"}
        Base of the pre-period ATT(g, t) (g - 1, or t - 1); post-period effects are the
        same under both. Universal matches the Sun-Abraham and two-way event studies.
    pretrend_leads : int
        The pre-trend test covers event times ``-pretrend_leads .. -1`` (reference rows
        left out; with a universal base -1 is the reference).
    horizon : int, optional
        The partners' own effects average event times 0..horizon (default: every post
        period of the panel).
    alpha : float
        1 - coverage of the intervals (diff_diff's normal intervals).
    partner_effects : bool
        Estimate every treated partner's own effect (one fit each).

    Returns
    -------
    CSResult

    Raises
    ------
    ParameterError
        Unknown outcome, control group or base period; partner not treated in the panel.
    DataError
        Panel not balanced (naming the partners and periods), non-finite outcome.
    EstimationError
        No treated cohort; no never-treated partner with ``control_group="never"``.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
        time periods. Journal of Econometrics 225(2), 200-230 (eq. 2.5-2.7: ATT(g, t) with
        never-treated and not-yet-treated comparison groups; Section 3: aggregations).
    """
    frame, frequency = _prepared(panel, outcome, control_group)
    _check_choice("base_period", base_period, BASE_PERIODS)
    _check_int("pretrend_leads", pretrend_leads, 1)
    if horizon is not None:
        _check_int("horizon", horizon, 0)
    _check_alpha("alpha", alpha)
    focus = _focus(partner)
    cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    if focus and (focus not in cohorts.index or cohorts[focus] == 0):
        partner_event_study(panel, focus, outcome, control_group, base_period, alpha)  # raises the clear error
    sizes = {int(g): int(n) for g, n in cohorts[cohorts > 0].value_counts().items()}
    periods = frame["period"].to_numpy()

    fit = _fit_cs(frame, outcome, control_group, base_period, alpha)
    group_time = pd.DataFrame([{
        "cohort": int(g), "cohort_label": period_label(g, frequency), "period": int(t),
        "label": period_label(t, frequency), "event_time": int(t - g), "estimate": v["effect"], "se": v["se"],
        "ci_low": v["conf_int"][0], "ci_high": v["conf_int"][1], "n": v.get("n_treated", np.nan),
        "n_control": v.get("n_control", np.nan), "reference": bool(v.get("is_reference", False)),
        "control_group": control_group} for (g, t), v in sorted(fit.group_time_effects.items())])

    grp = fit.aggregate("group").to_dataframe()
    members = frame.drop_duplicates("partner").query("cohort > 0").sort_values("partner").groupby("cohort")["partner"]
    members = members.agg(", ".join)
    cohort_table = pd.DataFrame({
        "cohort": grp["label"].astype(int).to_numpy(),
        "cohort_label": [period_label(g, frequency) for g in grp["label"]],
        "partners": [members[int(g)] for g in grp["label"]], "estimate": grp["att"].to_numpy(),
        "se": grp["se"].to_numpy(), "ci_low": grp["conf_int_lower"].to_numpy(),
        "ci_high": grp["conf_int_upper"].to_numpy(), "n": [sizes[int(g)] for g in grp["label"]],
        "n_periods": grp["n"].astype(int).to_numpy(), "control_group": control_group})
    # each cohort's own event study: the pre-trend test of the cohort
    cohort_p = []
    for g in cohort_table["cohort"]:
        own = cohorts.index[cohorts == g].tolist()
        table, vcov = partner_event_study(frame, own, outcome, control_group, base_period, alpha)
        cohort_p.append(pretrend_test(table[~table["reference"]].set_index("event_time")["estimate"], vcov,
                                      pretrend_leads, control_group).p_value)
    cohort_table.insert(cohort_table.columns.get_loc("control_group"), "pretrend_p", cohort_p)

    es = fit.aggregate("event_study")
    event_table = _event_table(es, control_group, sizes, periods)
    estimates = event_table[~event_table["reference"]].set_index("event_time")["estimate"]
    pretrend = pretrend_test(estimates, _vcov_frame(es.vcov, es.vcov_index), pretrend_leads, control_group)

    simple = fit.aggregate("simple").to_dataframe().iloc[0]
    overall = pd.DataFrame([{"effect": "pooled effect of US agreements", "estimate": float(simple["att"]),
                             "se": float(simple["se"]), "ci_low": float(simple["conf_int_lower"]),
                             "ci_high": float(simple["conf_int_upper"]), "n": int(sum(sizes.values())),
                             "control_group": control_group}])

    treated = frame.drop_duplicates("partner").query("cohort > 0").sort_values(["cohort", "partner"])
    n_never = int((cohorts == 0).sum())
    names = dict(zip(treated["partner"], treated["agreement"], strict=True)) if "agreement" in treated else {}
    wanted = treated["partner"].tolist() if partner_effects else ([focus] if focus else [])
    rows, focus_table, focus_pretrend = [], None, None
    for code in wanted:
        table, vcov = partner_event_study(frame, code, outcome, control_group, base_period, alpha)
        pre = pretrend_test(table[~table["reference"]].set_index("event_time")["estimate"], vcov, pretrend_leads,
                            control_group)
        g = int(cohorts[code])
        average = _post_average(table, vcov, horizon, alpha)
        placebo = {"placebo_ci_low": np.nan, "placebo_ci_high": np.nan, "placebo_p": np.nan,
                   "placebo_pretrend_p": np.nan}
        if n_never >= MIN_PLACEBOS:
            found = placebo_inference(frame, code, outcome, base_period, horizon, pretrend_leads, alpha,
                                      estimate=average["estimate"])
            placebo = {k: found[k] for k in placebo}
        rows.append({"partner": code, "agreement": names.get(code, ""), "cohort": g,
                     "cohort_label": period_label(g, frequency), **average, "pretrend_p": pre.p_value, **placebo,
                     "control_group": control_group})
        if code == focus:
            focus_table, focus_pretrend = table, pre
    partner_table = pd.DataFrame(rows, columns=["partner", "agreement", "cohort", "cohort_label", "estimate", "se",
                                                "ci_low", "ci_high", "n", "pretrend_p", "placebo_ci_low",
                                                "placebo_ci_high", "placebo_p", "placebo_pretrend_p", "control_group"])
    notes = ["a partner alone (group of one) rests on one treated unit: its analytic standard error and pre-trend "
             "test reflect only the sampling of the comparison partners; the placebo_* columns use the spread of "
             "never-treated partners' placebo effects instead (Conley and Taber 2011)"]
    return CSResult(outcome=outcome, control_group=control_group, base_period=base_period, frequency=frequency,
                    alpha=alpha, group_time=group_time, cohorts=cohort_table, event_study=event_table,
                    pretrend=pretrend, overall=overall, partners=partner_table, focus=focus,
                    focus_event_study=focus_table, focus_pretrend=focus_pretrend, horizon=horizon, notes=tuple(notes))


# -------------------------------------------------------------------- Sun-Abraham ----
@dataclass(frozen=True)
class SAResult:
    """Sun-Abraham interaction-weighted event study for one outcome.

    Attributes
    ----------
    event_study : DataFrame
        ``event_time, estimate, se, ci_low, ci_high, n`` (partners), ``reference,
        control_group`` (diff_diff's intervals: partner-clustered, residual df).
    cohort_effects : DataFrame
        CATT(g, e): ``cohort, cohort_label, event_time, estimate, se, ci_low, ci_high``
        (normal intervals), ``weight`` (the cohort's share at e).
    overall : DataFrame
        One row: diff_diff's overall ATT (post-period event times weighted by cohort size).
    pretrend : PretrendTest
    """

    outcome: str
    control_group: str
    frequency: str
    alpha: float
    event_study: pd.DataFrame = field(repr=False)
    cohort_effects: pd.DataFrame = field(repr=False)
    overall: pd.DataFrame = field(repr=False)
    pretrend: PretrendTest


def sun_abraham(panel: StaggeredPanel | pd.DataFrame, outcome: str = "log_imports", control_group: str = "never",
                pretrend_leads: int = 5, alpha: float = 0.05) -> SAResult:
    """Sun-Abraham (2021) interaction-weighted event study (``diff_diff.SunAbraham``).

    The saturated regression ``y = partner + period + sum_g sum_e delta_ge 1(G = g, t - g = e)``
    (every relative period but -1, no binning) on the balanced panel; the event-study
    effect at e is the cohort-share weighted mean of delta_ge. Without covariates in a
    balanced panel delta_ge equals the CS ATT(g, g + e) with never-treated controls and a
    universal base period. With every relative period saturated only the never-treated
    partners identify the period effects, so ``control_group`` does not change the estimates
    (diff_diff 3.13 gives identical numbers for both on the panels here); it is passed through.
    Standard errors are clustered by partner (diff_diff's default), intervals use the
    regression's residual degrees of freedom.

    Parameters
    ----------
    panel : StaggeredPanel or DataFrame
    outcome : {"log_imports", "log_exports", "balance_ratio"}
    control_group : {"never", "notyet"}
    pretrend_leads : int
        Leads ``-pretrend_leads .. -2`` are tested jointly (-1 is the reference).
    alpha : float

    Returns
    -------
    SAResult

    References
    ----------
    Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event studies
        with heterogeneous treatment effects. Journal of Econometrics 225(2), 175-199.
    """
    from diff_diff import SunAbraham

    frame, frequency = _prepared(panel, outcome, control_group)
    _check_int("pretrend_leads", pretrend_leads, 1)
    _check_alpha("alpha", alpha)
    cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    sizes = {int(g): int(n) for g, n in cohorts[cohorts > 0].value_counts().items()}
    fit = SunAbraham(control_group=CONTROL_GROUPS[control_group], alpha=alpha).fit(
        frame, outcome=outcome, unit="partner", time="period", first_treat="cohort")
    es = fit.to_dataframe("event_study")
    table = pd.DataFrame({"event_time": es["relative_period"].astype(int), "estimate": es["effect"], "se": es["se"],
                          "ci_low": es["conf_int_lower"], "ci_high": es["conf_int_upper"], "reference": False})
    ref = pd.DataFrame([{"event_time": -1, "estimate": 0.0, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "reference": True}])
    table = pd.concat([table, ref], ignore_index=True).sort_values("event_time").reset_index(drop=True)
    table["n"] = _partners_at(table["event_time"], sizes, frame["period"].to_numpy())
    table["control_group"] = control_group
    table = table[["event_time", "estimate", "se", "ci_low", "ci_high", "n", "reference", "control_group"]]
    ce = fit.to_dataframe("cohort")
    low, high = _interval(ce["effect"], ce["se"], alpha)
    cohort_effects = pd.DataFrame({"cohort": ce["cohort"].astype(int),
                                   "cohort_label": [period_label(g, frequency) for g in ce["cohort"]],
                                   "event_time": ce["relative_period"].astype(int), "estimate": ce["effect"],
                                   "se": ce["se"], "ci_low": low, "ci_high": high, "weight": ce["weight"],
                                   "control_group": control_group})
    overall = pd.DataFrame([{"effect": "pooled effect of US agreements (Sun-Abraham)", "estimate": fit.overall_att,
                             "se": fit.overall_se, "ci_low": fit.overall_conf_int[0],
                             "ci_high": fit.overall_conf_int[1], "n": int(sum(sizes.values())),
                             "control_group": control_group}])
    pre = table[~table["reference"]].set_index("event_time")["estimate"]
    vcov = _vcov_frame(fit.event_study_vcov, fit.event_study_vcov_index) if fit.event_study_vcov is not None else (
        pd.DataFrame(np.diag(table.loc[~table["reference"], "se"] ** 2), index=pre.index, columns=pre.index))
    return SAResult(outcome=outcome, control_group=control_group, frequency=frequency, alpha=alpha, event_study=table,
                    cohort_effects=cohort_effects, overall=overall,
                    pretrend=pretrend_test(pre, vcov, pretrend_leads, control_group))


# ------------------------------------------------------------------ US$ effect ----
@dataclass(frozen=True)
class DollarEffect:
    """The agreement's effect on the US balance with a partner in one year, in US$ billion.

    Attributes
    ----------
    table : DataFrame
        Rows ``exports, imports, balance``: ``actual, counterfactual`` (US$ bn), ``log_effect``
        (ATT in log points, mean over the year's periods), ``effect, ci_low, ci_high``
        (US$ bn; percentile bootstrap interval), ``se`` (bootstrap standard deviation).
    estimate, ci_low, ci_high : float
        The balance effect and its bootstrap interval (US$ bn).
    placebo_ci_low, placebo_ci_high : float
        With ``effect="partner"``: the interval from the never-treated partners' placebo
        effects (:func:`placebo_inference`): the balance effect recomputed with
        ``a - e_j`` for each placebo error ``e_j`` (exports and imports of the same
        placebo), its ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
    draws : int
        Bootstrap draws (``n_valid`` of them finite).
    """

    partner: str
    year: int
    effect: str
    control_group: str
    level: float
    draws: int
    n_valid: int
    seed: int
    table: pd.DataFrame = field(repr=False)
    estimate: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    placebo_ci_low: float = np.nan
    placebo_ci_high: float = np.nan
    bootstrap: np.ndarray = field(default=None, repr=False)
    notes: tuple[str, ...] = ()


EFFECTS = ("partner", "cohort")


def balance_effect_usd(panel: StaggeredPanel | pd.DataFrame, partner: str | Study = "KOR", year: int | None = None,
                       control_group: str = "never", effect: str = "partner", draws: int = BOOTSTRAP_DRAWS,
                       seed: int = DEFAULT_SEED, level: float = 0.95) -> DollarEffect:
    """US$ effect of the agreement on the US goods balance with ``partner`` in ``year``.

    With ``a_x = ATT(g, t)`` on log exports and ``a_m`` on log imports, the flows without the
    agreement are ``X_t exp(-a_x)`` and ``M_t exp(-a_m)``, so the effect on the balance is

        ``dB_t = X_t (1 - exp(-a_x)) - M_t (1 - exp(-a_m))``

    (summed over the quarters of the year for a quarterly panel; X, M the partner's actual
    flows). ``effect="partner"``: the ATT of the partner as a group of one;
    ``effect="cohort"``: its cohort's ATT(g, t) applied to its flows.

    The interval is a percentile bootstrap over partners: ``draws`` resamples, with
    replacement and within strata (the treated partners of the effect; the never-treated;
    for ``notyet`` also the partners of the other cohorts), recomputing ATT(g, t) by the
    vectorised hand formula (:func:`att_gt_by_hand`, checked against diff_diff on the full
    sample) for exports and imports from the same draw. With ``effect="partner"`` the
    treated stratum is the partner itself, so the interval reflects only the sampling of the
    comparison partners; the placebo interval (``placebo_ci_low, placebo_ci_high``) adds the
    partner's own idiosyncratic variation (Conley and Taber 2011).

    Parameters
    ----------
    panel : StaggeredPanel or DataFrame
        With ``exports, imports`` (US$ million) and ``log_exports, log_imports``.
    partner : str or Study
        A Study also gives the default year (its compare year).
    year : int, optional
        Default: the study's compare year, or the year of entry + :data:`COMPARE_OFFSET`.
    control_group : {"never", "notyet"}
    effect : {"partner", "cohort"}
    draws : int
        Bootstrap draws (default :data:`BOOTSTRAP_DRAWS`).
    seed : int
        Seed of ``np.random.default_rng``.
    level : float
        Coverage of the percentile interval.

    Returns
    -------
    DollarEffect

    Raises
    ------
    ParameterError
        Bad partner, year (not in the panel or before the entry), effect, draws, level.
    EstimationError
        diff_diff and the hand formula disagree.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
        time periods. Journal of Econometrics 225(2), 200-230.
    Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall
        (ch. 13, percentile intervals).
    Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with
        a small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    """
    _check_choice("effect", effect, EFFECTS)
    _check_int("draws", draws, 2)
    _check_int("seed", seed, 0)
    _check_alpha("level", level)
    frames = {o: _prepared(panel, o, control_group) for o in ("log_exports", "log_imports")}
    frame, frequency = frames["log_exports"]
    for column in ("exports", "imports"):
        if column not in frame:
            raise DataError(_FRAME, column, "missing: the US$ effect needs the partner's flows (US$ million)")
    code = _focus(partner)
    cohorts = frame.drop_duplicates("partner").set_index("partner")["cohort"]
    if code not in cohorts.index or cohorts[code] == 0:
        raise ParameterError("partner", code, f"a treated partner of the panel: {', '.join(sorted(cohorts[cohorts > 0].index))}")
    g = int(cohorts[code])
    if year is None:
        year = partner.compare_year if isinstance(partner, Study) else int(period_year(g, frequency)) + COMPARE_OFFSET
    years = sorted(set(int(y) for y in period_year(frame["period"].to_numpy(), frequency)))
    if not isinstance(year, int | np.integer) or year not in years:
        raise ParameterError("year", year, f"a year of the panel {years[0]}-{years[-1]}")
    times = sorted(int(t) for t in frame["period"].unique() if period_year(int(t), frequency) == year and t >= g)
    if not times:
        raise ParameterError("year", year, f"a year from the entry of {code} ({period_label(g, frequency)}) to {years[-1]}",
                             "no period of the year is after the entry")

    # point estimates from diff_diff
    point = {}
    for outcome in ("log_exports", "log_imports"):
        if effect == "partner":
            table, _ = partner_event_study(frame, code, outcome, control_group, "universal", 1 - level)
            point[outcome] = table.set_index("event_time").loc[[t - g for t in times], "estimate"].to_numpy()
        else:
            fit = _fit_cs(frame, outcome, control_group, "universal", 1 - level)
            point[outcome] = np.array([fit.group_time_effects[(g, t)]["effect"] for t in times], dtype=float)

    wide = {o: _Wide.of(frame, o) for o in point}
    partners, cohort_vec = wide["log_exports"].partners, wide["log_exports"].cohorts
    treated = (partners == code) if effect == "partner" else (cohort_vec == g)
    strata = [np.flatnonzero(treated), np.flatnonzero(cohort_vec == 0)]
    if control_group == "notyet":
        strata.append(np.flatnonzero((cohort_vec > 0) & (cohort_vec != g)))
    rng = np.random.default_rng(seed)
    weights = np.zeros((draws, len(partners)))
    for idx in strata:
        if len(idx):
            weights[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=draws)
    ones = np.ones((1, len(partners)))
    a, boot = {}, {}
    for outcome in point:
        full, _ = _cells(wide[outcome], treated, g, times, control_group, "universal", ones)
        if not np.allclose(full[0], point[outcome], rtol=0, atol=HAND_TOLERANCE):
            raise EstimationError(f"hand ATT(g, t) of {outcome} differs from diff_diff by "
                                  f"{np.max(np.abs(full[0] - point[outcome])):.2e}")
        a[outcome] = point[outcome]
        boot[outcome], _ = _cells(wide[outcome], treated, g, times, control_group, "universal", weights)

    flows = frame[frame["partner"] == code].set_index("period").loc[times]
    X, M = flows["exports"].to_numpy() / 1e3, flows["imports"].to_numpy() / 1e3
    ex = (X * (1 - np.exp(-a["log_exports"]))).sum()
    im = (M * (1 - np.exp(-a["log_imports"]))).sum()
    ex_b = (X * (1 - np.exp(-boot["log_exports"]))).sum(axis=1)
    im_b = (M * (1 - np.exp(-boot["log_imports"]))).sum(axis=1)
    bal_b = ex_b - im_b
    valid = np.isfinite(bal_b)
    q = [(1 - level) / 2, (1 + level) / 2]

    def row(actual, effect_value, log_effect, draws_):
        low, high = np.quantile(draws_[valid], q)
        return {"actual": actual, "counterfactual": actual - effect_value, "log_effect": log_effect,
                "effect": effect_value, "se": float(np.std(draws_[valid], ddof=1)), "ci_low": low, "ci_high": high}

    table = pd.DataFrame({
        "exports": row(X.sum(), ex, float(np.mean(a["log_exports"])), ex_b),
        "imports": row(M.sum(), im, float(np.mean(a["log_imports"])), im_b),
        "balance": row(X.sum() - M.sum(), ex - im, np.nan, bal_b)}).T
    table.index.name = "flow"
    placebo_low = placebo_high = np.nan
    if effect == "partner" and int((cohort_vec == 0).sum()) >= MIN_PLACEBOS:
        err = {o: _placebo_cells(wide[o], g, times, "universal") for o in point}
        placebo = ((X * (1 - np.exp(-(a["log_exports"] - err["log_exports"])))).sum(axis=1)
                   - (M * (1 - np.exp(-(a["log_imports"] - err["log_imports"])))).sum(axis=1))
        placebo_low, placebo_high = np.quantile(placebo, q)
    notes = [f"percentile bootstrap, {draws} draws over partners (seed {seed}), strata: "
             f"{'the partner itself' if effect == 'partner' else f'cohort {period_label(g, frequency)}'}, never-treated"
             + (", other cohorts" if control_group == "notyet" else "")]
    if effect == "partner":
        notes.append("one treated partner: the bootstrap interval reflects only the sampling of the comparison "
                     "partners; the placebo interval also the partner's own shocks (Conley and Taber 2011)")
    if not valid.all():
        notes.append(f"{int((~valid).sum())} draws without a control partner dropped")
    return DollarEffect(partner=code, year=int(year), effect=effect, control_group=control_group, level=level,
                        draws=draws, n_valid=int(valid.sum()), seed=seed, table=table.astype(float),
                        estimate=float(ex - im), ci_low=float(table.loc["balance", "ci_low"]),
                        ci_high=float(table.loc["balance", "ci_high"]), placebo_ci_low=float(placebo_low),
                        placebo_ci_high=float(placebo_high), bootstrap=bal_b, notes=tuple(notes))


# ------------------------------------------------------------------ the design ----
@dataclass(frozen=True)
class DesignResult:
    """Every estimate of the staggered design for one panel.

    ``cs[(outcome, control_group)]``, ``sa[(outcome, control_group)]`` and
    ``dollars[control_group]``.
    """

    panel: StaggeredPanel = field(repr=False)
    cs: dict = field(repr=False)
    sa: dict = field(repr=False)
    dollars: dict = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """One tidy table: CS summaries, the Sun-Abraham pooled effects, the US$ effects."""
        parts = [r.summary() for r in self.cs.values()]
        for (outcome, control), r in self.sa.items():
            parts.append(pd.DataFrame([{"outcome": outcome, "control_group": control,
                                        "quantity": "pooled effect (Sun-Abraham)",
                                        **r.overall.iloc[0][["estimate", "se", "ci_low", "ci_high", "n"]].to_dict(),
                                        **r.pretrend.as_dict()}]))
        for control, d in self.dollars.items():
            parts.append(pd.DataFrame([{"outcome": "balance, US$ bn", "control_group": control,
                                        "quantity": f"{d.partner} {d.year} ({d.effect} ATT, bootstrap {d.draws})",
                                        "estimate": d.estimate, "se": d.table.loc["balance", "se"],
                                        "ci_low": d.ci_low, "ci_high": d.ci_high, "n": d.n_valid,
                                        "placebo_ci_low": d.placebo_ci_low, "placebo_ci_high": d.placebo_ci_high}]))
        return pd.concat(parts, ignore_index=True)


def staggered_design(panel: StaggeredPanel | None = None, outcomes: Iterable[str] = ("log_imports", "log_exports"),
                     control_groups: Iterable[str] = ("never", "notyet"), partner: str | Study = "KOR",
                     year: int | None = None, base_period: str = "universal", pretrend_leads: int = 5,
                     horizon: int | None = None, alpha: float = 0.05, draws: int = BOOTSTRAP_DRAWS,
                     seed: int = DEFAULT_SEED, with_sun_abraham: bool = True) -> DesignResult:
    """Run the whole design: CS (and Sun-Abraham) for each outcome and control group, and
    the US$ effect on the partner's balance for each control group.

    ``panel`` defaults to :func:`staggered_panel` (annual, 1985-2019). See
    :func:`callaway_santanna`, :func:`sun_abraham` and :func:`balance_effect_usd` for the
    parameters.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple
        time periods. Journal of Econometrics 225(2), 200-230.
    Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event studies
        with heterogeneous treatment effects. Journal of Econometrics 225(2), 175-199.
    """
    panel = staggered_panel() if panel is None else panel
    outcomes, control_groups = list(outcomes), list(control_groups)
    cs, sa, dollars = {}, {}, {}
    for control in control_groups:
        for outcome in outcomes:
            cs[(outcome, control)] = callaway_santanna(panel, outcome, control, partner, base_period, pretrend_leads,
                                                       horizon, alpha)
            if with_sun_abraham:
                sa[(outcome, control)] = sun_abraham(panel, outcome, control, pretrend_leads, alpha)
        if partner:
            dollars[control] = balance_effect_usd(panel, partner, year, control, "partner", draws, seed, 1 - alpha)
    return DesignResult(panel=panel, cs=cs, sa=sa, dollars=dollars)


def forest_table(result: CSResult, panel: StaggeredPanel | None = None, interval: str = "placebo") -> pd.DataFrame:
    """Every agreement partner's own effect, one row each, for :func:`plots.forest_plot`.

    The treated partners of ``result.partners`` by cohort, with ``ci_low, ci_high`` the
    placebo interval (``interval="placebo"``, default: a single partner's honest interval,
    Conley and Taber 2011) or the analytic one (``"analytic"``: the sampling of the
    comparison partners only); then (with ``panel``) the agreement partners the panel
    excluded, without an estimate and with the reason as ``note``. Partners whose first
    agreement is after the window are not listed.
    """
    _check_choice("interval", interval, ["placebo", "analytic"])
    table = result.partners.assign(note="", interval=interval)
    if interval == "placebo":
        table["ci_low"], table["ci_high"] = table["placebo_ci_low"], table["placebo_ci_high"]
    if panel is None:
        return table
    out = panel.partners[(panel.partners["agreement"] != "") & (panel.partners["role"] == "excluded")]
    extra = pd.DataFrame({"partner": out["partner"], "agreement": out["agreement"], "cohort": out["cohort"],
                          "cohort_label": out["cohort_label"], "estimate": np.nan, "se": np.nan, "ci_low": np.nan,
                          "ci_high": np.nan, "n": 0, "control_group": result.control_group, "note": out["reason"],
                          "interval": interval})
    return pd.concat([table, extra.sort_values(["cohort", "partner"])], ignore_index=True)


#: Later first window, for agreement partners the Census table lists only from 1992 on.
COVERAGE_START = 1992


def study_panel(table: pd.DataFrame, study: Study, frequency: str = "annual", **options) -> StaggeredPanel:
    """The staggered panel for a :class:`~korus_research.study.Study`.

    The default window (:data:`DEFAULT_WINDOW`); when the study's partner is an agreement
    partner left out of it only because the Census table does not list it in the window's
    first years (JOR, MAR, NIC, OMN before 1992), the annual window starts in
    :data:`COVERAGE_START` instead (noted). When the study's entry date differs from the
    agreements table (an override, or a hypothetical date for a partner without an agreement),
    the partner's cohort is the study's entry period (noted), so that the design estimates the
    study's question; every other partner keeps the table's cohort.

    Raises
    ------
    EstimationError
        When the partner cannot be a treated unit of the panel (treated at or before its first
        period, not balanced, or never treated within it), naming the reason: the data cannot
        support the design for this study (notebooks skip the section with that reason).
    """
    panel = staggered_panel(table, frequency, **options)
    notes = list(panel.notes)
    code = study.partner
    row = panel.partners[panel.partners["partner"] == code]
    if (frequency == "annual" and "start" not in options and len(row) and row["role"].iloc[0] == "excluded"
            and str(row["reason"].iloc[0]).startswith("not balanced")):
        panel = staggered_panel(table, frequency, start=COVERAGE_START, **options)
        notes = list(panel.notes) + [f"{code} is in the Census table only from {COVERAGE_START}: window "
                                     f"{COVERAGE_START}-{panel.end}"]
    return _for_study(panel, study, frequency, notes)


def _for_study(panel: StaggeredPanel, study: Study, frequency: str, notes: list[str]) -> StaggeredPanel:
    """The panel with the study's partner in the study's cohort (see :func:`study_panel`)."""
    code = study.partner
    if study.has_agreement and code in set(panel.data["partner"]):
        wanted = period_code(entry_period(study.entry, "annual" if frequency == "annual" else "quarterly"), frequency)
        if wanted != panel.cohort_of(code):
            first_period = int(panel.data["period"].min())
            if wanted <= first_period:
                raise EstimationError(f"the staggered design cannot treat {code} from {study.entry.date()}: the "
                                      f"panel starts in {panel.start}, so there is no period before entry")
            data = panel.data.copy()
            mine = data["partner"] == code
            data.loc[mine, "cohort"] = wanted
            data.loc[mine, "cohort_label"] = period_label(wanted, frequency)
            data.loc[mine, "agreement"] = study.agreement
            notes.append(f"{code}'s cohort set to the study's entry {period_label(wanted, frequency)} "
                         f"({study.entry_source})")
            partners = panel.partners.copy()
            partners.loc[partners["partner"] == code, ["cohort", "cohort_label", "role", "reason"]] = [
                wanted, period_label(wanted, frequency), "treated", f"entry from the study ({study.entry_source})"]
            panel = StaggeredPanel(data=data, partners=partners, frequency=panel.frequency, start=panel.start,
                                   end=panel.end, vintage=panel.vintage, min_trade_usd_mn=panel.min_trade_usd_mn,
                                   size_year=panel.size_year, late=panel.late, notes=tuple(notes), source=panel.source)
            return panel
    if code not in set(panel.data.loc[panel.data["cohort"] > 0, "partner"]):
        why = (panel.why_absent(code) if code not in set(panel.data["partner"])
               else "in the panel but never treated within it (no agreement in the window)")
        raise EstimationError(f"the staggered {frequency} panel {panel.start}-{panel.end} cannot estimate {code}'s own "
                              f"effect: {why}")
    return StaggeredPanel(data=panel.data, partners=panel.partners, frequency=panel.frequency, start=panel.start,
                          end=panel.end, vintage=panel.vintage, min_trade_usd_mn=panel.min_trade_usd_mn,
                          size_year=panel.size_year, late=panel.late, notes=tuple(notes), source=panel.source)


def pooled_balance_effect(exports: CSResult, imports: CSResult, panel: StaggeredPanel, partner: str, year: int,
                          level: float = 0.95) -> dict:
    """The pooled effect of US agreements applied to one partner's flows in ``year`` (US$ bn).

    With ``a_x``, ``a_m`` the pooled ATT on log exports and log imports,
    ``dB = X_t (1 - exp(-a_x)) - M_t (1 - exp(-a_m))``; its standard error by the delta method,
    ``se^2 = (X_t e^{-a_x} se_x)^2 + (M_t e^{-a_m} se_m)^2``, treating the two outcomes'
    estimates as independent (they are fitted separately; stated, not tested). It assumes the
    partner's effect equals the average over US agreements.

    Returns
    -------
    dict
        ``estimate, se, ci_low, ci_high, a_exports, a_imports, exports, imports`` (US$ bn).
    """
    _check_alpha("level", level)
    rows = panel.data[(panel.data["partner"] == partner) & (panel.data["year"] == year)]
    if rows.empty:
        raise ParameterError("year", year, f"a year of {partner} in the panel {panel.start}-{panel.end}")
    x, m = rows["exports"].sum() / 1e3, rows["imports"].sum() / 1e3
    ax, am = float(exports.pooled["estimate"]), float(imports.pooled["estimate"])
    sx, sm = float(exports.pooled["se"]), float(imports.pooled["se"])
    estimate = x * (1 - np.exp(-ax)) - m * (1 - np.exp(-am))
    se = float(np.hypot(x * np.exp(-ax) * sx, m * np.exp(-am) * sm))
    z = stats.norm.ppf(0.5 + level / 2)
    return {"estimate": float(estimate), "se": se, "ci_low": float(estimate - z * se), "ci_high": float(estimate + z * se),
            "a_exports": ax, "a_imports": am, "exports": float(x), "imports": float(m)}


#: The Comtrade HS2 window (the mirror's years) and the default size rule of a product group.
COMTRADE_WINDOW = (2007, 2019)
PRODUCT_MIN_TRADE_USD_MN = 10.0


def product_group_panel(comtrade: pd.DataFrame, chapters: Iterable[str], start: int = COMTRADE_WINDOW[0],
                        end: int = COMTRADE_WINDOW[1], min_trade_usd_mn: float = PRODUCT_MIN_TRADE_USD_MN,
                        late: str = "never") -> StaggeredPanel:
    """The staggered annual panel of one product group (HS chapters) from Comtrade (US-reported
    trade by partner and HS2, the ``comtrade_hs2`` table), where its window fits.

    ``exports, imports`` are the group's US exports to and imports from each partner (US$ million,
    imports CIF as Comtrade reports them); the partner selection, cohorts and outcomes are those of
    :func:`staggered_panel` (balanced: both flows of the group positive every year; total trade in
    the group of at least ``min_trade_usd_mn`` in ``start``). Cohorts entering in ``start`` or
    before (the agreements up to 2007 in the default window) have no pre-period and are excluded,
    so they serve neither as treated nor as controls.

    Raises
    ------
    ParameterError
        No chapter, unknown chapters, a window outside the table's years.
    EstimationError
        No treated cohort or no never-treated partner left.
    """
    chapters = sorted({str(c).zfill(2) for c in chapters})
    known = set(comtrade["hs2"].dropna())
    if not chapters or set(chapters) - known:
        raise ParameterError("chapters", chapters, f"HS chapters of the Comtrade table, e.g. 87 (known: {len(known)})")
    years = (int(comtrade["year"].min()), int(comtrade["year"].max()))
    if not (years[0] <= start < end <= years[1]):
        raise ParameterError("start, end", (start, end), f"years within the Comtrade table {years[0]}-{years[1]}")
    _check_choice("late", late, LATE_RULES)
    rows = comtrade[comtrade["hs2"].isin(chapters) & comtrade["year"].between(start, end) & comtrade["partner_iso3"].notna()]
    value = rows.groupby(["partner_iso3", "year", "flow"])["value_usd"].sum().unstack("flow", fill_value=0.0) / 1e6
    codes = sorted(rows["partner_iso3"].unique())
    index = pd.MultiIndex.from_product([codes, range(start, end + 1)], names=["partner", "period"])
    value.index = value.index.set_names(["partner", "period"])
    value = value.reindex(index, fill_value=0.0)
    flows = pd.DataFrame({"exports": value.get("export", 0.0), "imports": value.get("import", 0.0)}, index=index)
    flows = flows.reset_index().assign(year=lambda d: d["period"], months=12)
    vintages = ", ".join(sorted(rows["source_vintage"].dropna().unique()))
    panel = _select_partners(flows, codes, "annual", start, end, start, min_trade_usd_mn, late,
                             f"Comtrade {vintages}", False, source="Comtrade")
    note = f"product group: HS {', '.join(chapters)} (UN Comtrade, US-reported, imports CIF)"
    return StaggeredPanel(data=panel.data, partners=panel.partners, frequency="annual", start=panel.start,
                          end=panel.end, vintage=panel.vintage, min_trade_usd_mn=panel.min_trade_usd_mn,
                          size_year=panel.size_year, late=late, notes=(*panel.notes, note),
                          source=f"UN Comtrade, US trade by partner in HS {', '.join(chapters)} ({vintages})")


def product_study_panel(comtrade: pd.DataFrame, study: Study, chapters: Iterable[str], **options) -> StaggeredPanel:
    """:func:`product_group_panel` with the study's partner in the study's cohort (as
    :func:`study_panel` does for the Census panels).

    Raises
    ------
    EstimationError
        When the partner cannot be a treated unit of the product panel, with the reason.
    """
    panel = product_group_panel(comtrade, chapters, **options)
    return _for_study(panel, study, "annual", list(panel.notes))
