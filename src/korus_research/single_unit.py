"""Inference built for ONE treated partner: synthetic DiD, conformal and Conley-Taber
inference, and sensitivity of the event study to violations of parallel trends.

Korea is a single treated unit among some thirty control partners. Cluster-robust
errors resting on one treated cluster understate uncertainty (Conley and Taber 2011), so
this module gathers methods whose inference is built for that case:

- :func:`synthetic_did`: synthetic difference-in-differences (Arkhangelsky et al. 2021)
  on log flows, with the placebo variance estimator (their Algorithm 4), through
  :class:`diff_diff.SyntheticDiD`; :func:`sdid_balance_effect` turns the export and import
  effects into US$ of the balance in one year.
- :func:`conformal_inference`: the conformal permutation test of Chernozhukov, Wuthrich and
  Zhu (2021) (moving-block permutations over time of the residuals of a proxy fitted under
  the null), with the confidence set for a constant effect by test inversion. The
  synthetic-control proxy is :meth:`diff_diff.SyntheticControlResults.conformal_test`; the
  difference-in-differences proxy is written here (it is short).
- :func:`conley_taber`: the distribution of the control partners' own DiD residuals as the
  null distribution of the treated partner's (Conley and Taber 2011).
- :func:`honest_did`: robust confidence sets for the event study of
  :func:`korus_research.effects.event_study` under relative magnitudes and smoothness
  restrictions, and the breakdown values (Rambachan and Roth 2023), through
  :class:`diff_diff.HonestDiD`.
- :func:`study_single_unit`: all of the above for a :class:`~korus_research.study.Study`.

Every function takes a partner-year panel (``partner, year`` and the flow columns, as
:func:`korus_research.effects.partner_panel` returns) or an
:class:`~korus_research.effects.EventStudyResult`, validates it, and returns a dataclass of
tidy frames.

References
----------
Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021). Synthetic
    difference-in-differences. American Economic Review 111(12), 4088-4118.
Chernozhukov, V., Wuthrich, K. and Zhu, Y. (2021). An exact and robust conformal inference
    method for counterfactual and synthetic controls. Journal of the American Statistical
    Association 116(536), 1849-1864.
Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with a
    small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review of
    Economic Studies 90(5), 2555-2591.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from itertools import permutations
from math import factorial

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError, EstimationError, ParameterError

#: Seed of the placebo draws (SDID) and of sampled permutations (conformal, ``scheme="iid"``).
DEFAULT_SEED = 20120315
#: Placebo replications of the SDID variance (Arkhangelsky et al. 2021 use 200 and more).
N_PLACEBO = 200
#: Default grid of constant effects (log points) inverted for the conformal confidence set.
CONFORMAL_GRID = np.round(np.arange(-1.5, 1.5 + 1e-9, 0.005), 10)
#: Default grids of the Rambachan-Roth restrictions: relative magnitudes (Mbar, unitless)
#: and smoothness (M, log points per year squared).
MBAR_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
M_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
#: Upper end of the breakdown search (above it the effect is reported as never breaking down).
BREAKDOWN_MAX = 10.0

_PROXIES = ("sc", "did")
_SCHEMES = ("moving_block", "iid")
_EVENT_NAME = re.compile(r"^ev_(m|p)(\d+)$")


# ------------------------------------------------------------------ validation ----


def _check_level(level: float, name: str = "level") -> float:
    if not isinstance(level, (int, float)) or not 0 < float(level) < 1:
        raise ParameterError(name, level, "a number strictly between 0 and 1 (e.g. 0.95)")
    return float(level)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError("seed", seed, "a non-negative integer")
    return int(seed)


def _wide(panel: pd.DataFrame, treated: str, entry_year: int, outcome: str, log: bool,
          min_pre: int = 2) -> pd.DataFrame:
    """Validated ``year x partner`` table of ``outcome`` (logged if ``log``), treated first.

    Raises
    ------
    ParameterError
        Treated partner absent, outcome column absent, no pre-period or post-period for
        ``entry_year``, fewer than two control partners.
    DataError
        An unbalanced panel, a missing value, a non-positive flow under ``log``.
    """
    if not isinstance(panel, pd.DataFrame):
        raise ParameterError("panel", type(panel).__name__, "a DataFrame with columns partner, year and the outcome")
    missing = [c for c in ("partner", "year") if c not in panel.columns]
    if missing:
        raise DataError("panel", missing[0], f"column(s) {missing} missing; the panel needs partner, year and "
                        f"the outcome (effects.partner_panel returns them)")
    flows = [c for c in panel.columns if c not in ("partner", "year", "date", "month")]
    if outcome not in panel.columns:
        raise ParameterError("outcome", outcome, flows or ["exports", "imports"], "not a column of the panel")
    partners = sorted(panel["partner"].unique())
    if treated not in partners:
        shown = partners if len(partners) <= 40 else [*partners[:40], "..."]
        raise ParameterError("treated", treated, shown, "partner absent from the panel")
    if len(partners) - 1 < 2:
        raise ParameterError("panel", f"{len(partners) - 1} control partner(s)",
                             "a panel with at least 2 control partners besides the treated one")
    if panel.duplicated(["partner", "year"]).any():
        dup = panel.loc[panel.duplicated(["partner", "year"], keep=False), ["partner", "year"]]
        raise DataError("panel", "partner+year", "duplicate partner-year rows",
                        rows=[f"{p} {y}" for p, y in dup.drop_duplicates().itertuples(index=False)])
    years = sorted(panel["year"].unique())
    first, last = int(years[0]), int(years[-1])
    if isinstance(entry_year, bool) or not isinstance(entry_year, (int, np.integer)):
        raise ParameterError("entry_year", entry_year, f"an integer year in {first + min_pre}-{last}")
    n_pre = sum(y < entry_year for y in years)
    if n_pre < min_pre:
        raise ParameterError("entry_year", entry_year, f"a year in {years[min(min_pre, len(years) - 1)]}-{last}",
                             f"{n_pre} pre-period year(s) in a panel covering {first}-{last}; "
                             f"at least {min_pre} are needed")
    if entry_year > last:
        raise ParameterError("entry_year", entry_year, f"a year in {years[min(min_pre, len(years) - 1)]}-{last}",
                             f"no post-period: the panel ends in {last}")
    wide = panel.pivot(index="year", columns="partner", values=outcome).sort_index()
    holes = wide.isna()
    if holes.any().any():
        bad = [f"{wide.columns[j]} {wide.index[i]}" for i, j in zip(*np.nonzero(holes.to_numpy()), strict=True)]
        raise DataError("panel", outcome, "unbalanced panel or missing values: every partner needs every year", rows=bad)
    if log:
        nonpos = wide <= 0
        if nonpos.any().any():
            bad = [f"{wide.columns[j]} {wide.index[i]}" for i, j in zip(*np.nonzero(nonpos.to_numpy()), strict=True)]
            raise DataError("panel", outcome, "log of a non-positive flow", rows=bad)
        wide = np.log(wide)
    controls = [p for p in wide.columns if p != treated]
    return wide[[treated, *controls]]


def _label(outcome: str, log: bool) -> str:
    return f"log {outcome}" if log else outcome


def _record(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message).split(". ")[0] for w in caught]


# ------------------------------------------------------------------ synthetic DiD ----


@dataclass
class SDIDResult:
    """Synthetic difference-in-differences estimate for one outcome of one treated partner.

    Attributes
    ----------
    treated, outcome : str
        Treated partner and outcome label (``"log imports"``).
    entry_year : int
        First treated year.
    estimate, se, ci_low, ci_high : float
        Average effect over the post years (log points), its placebo standard error (every
        control treated once as placebo) and the normal interval at ``level``.
    level : float
    placebo_p_value : float
        Share of the placebo effects at least as large in absolute value as the estimate.
    se_sampled : float
        The placebo standard error of :class:`diff_diff.SyntheticDiD` from ``n_placebo``
        seeded draws (the same estimator with Monte Carlo error; a cross-check).
    unit_weights : DataFrame
        ``partner, weight`` (the omega weights, largest first).
    time_weights : DataFrame
        ``year, weight`` (the lambda weights over pre years).
    effects_by_year : DataFrame
        ``year, actual, synthetic, effect, se, ci_low, ci_high``: the treated series, the
        SDID counterfactual (the synthetic control shifted by the lambda-weighted pre-period
        gap), their difference (the effects average to ``estimate``) and its placebo
        standard error and interval.
    placebo : DataFrame
        One row per control partner treated as placebo: ``partner, effect`` and one column
        per post year (``effect_<year>``).
    controls : list of str
    seed, n_placebo : int
    pre_fit_rmse : float
        Root mean squared pre-period gap after removing its mean (what SDID cannot difference out).
    notes : list of str
        Warnings raised by the estimator, recorded.
    """

    treated: str
    outcome: str
    entry_year: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    placebo_p_value: float
    se_sampled: float
    unit_weights: pd.DataFrame
    time_weights: pd.DataFrame
    effects_by_year: pd.DataFrame
    placebo: pd.DataFrame = field(repr=False)
    controls: list[str] = field(repr=False)
    seed: int = DEFAULT_SEED
    n_placebo: int = N_PLACEBO
    pre_fit_rmse: float = np.nan
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One tidy row: outcome, estimate, se, interval, placebo p-value, pct effect."""
        return pd.DataFrame([{
            "treated": self.treated, "outcome": self.outcome, "estimate": self.estimate, "se": self.se,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "level": self.level,
            "placebo_p_value": self.placebo_p_value, "se_sampled": self.se_sampled,
            "pct_effect": float(np.expm1(self.estimate) * 100), "n_controls": len(self.controls),
            "pre_fit_rmse": self.pre_fit_rmse}])


def _sdid_fit(wide: pd.DataFrame, treated: str, entry_year: int, **options):
    """:class:`diff_diff.SyntheticDiD` on a ``year x partner`` table; (fit, effects by year, warnings)."""
    from diff_diff import SyntheticDiD

    long = wide.stack().rename("y").reset_index()
    long["treated_unit"] = (long["partner"] == treated).astype(int)
    post_years = [int(y) for y in wide.index if y >= entry_year]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = SyntheticDiD(**options).fit(long, outcome="y", treatment="treated_unit", unit="partner",
                                          time="year", post_periods=post_years)
    lam = np.asarray(fit.time_weights_array, dtype=float)
    pre_gap = float(lam @ (np.asarray(fit.treated_pre_trajectory) - np.asarray(fit.synthetic_pre_trajectory)))
    actual = np.asarray(fit.treated_post_trajectory, dtype=float)
    synthetic = np.asarray(fit.synthetic_post_trajectory, dtype=float) + pre_gap
    by_year = pd.DataFrame({"year": [int(p) for p in fit.post_periods], "actual": actual,
                            "synthetic": synthetic, "effect": actual - synthetic})
    return fit, by_year, _record(caught)


def synthetic_did(panel: pd.DataFrame, treated: str, entry_year: int, outcome: str = "imports", *,
                  log: bool = True, n_placebo: int = N_PLACEBO, seed: int = DEFAULT_SEED,
                  level: float = 0.95) -> SDIDResult:
    """Synthetic difference-in-differences for one treated partner (Arkhangelsky et al. 2021).

    Unit weights make the weighted controls parallel to the treated partner before
    ``entry_year``; time weights make the weighted pre years resemble the post years; the
    estimate is the weighted double difference

    ``tau = (mean_post Y_1 - sum_t lambda_t Y_1t) - sum_j omega_j (mean_post Y_j - sum_t lambda_t Y_jt)``,

    fitted by :class:`diff_diff.SyntheticDiD` (regularisation as in R ``synthdid``).

    Variance: the placebo estimator (Algorithm 4 of the paper, the one meant for a single
    treated unit). A draw treats one control partner as treated, re-fits the weights on the
    other controls (with the fit's regularisation) and recomputes the estimate; the
    standard error is the standard deviation of the placebo estimates (``ddof=0``). With one
    treated unit a draw can only pick one of the ``N0`` controls, so the draws are
    enumerated: every control is the placebo once, which is the limit of the algorithm's
    random draws without their Monte Carlo error. The package's own seeded version
    (``n_placebo`` draws from ``np.random.default_rng(seed)``) is kept as ``se_sampled``.
    The same placebo fits give each post year's standard error. Intervals are normal at
    ``level``. They assume the controls' placebo effects are exchangeable with the treated
    partner's noise; volatile controls (oil exporters) widen them.

    Parameters
    ----------
    panel : DataFrame
        ``partner, year`` and ``outcome`` (US$ million), balanced.
    treated : str
        Treated partner (a value of ``panel["partner"]``); every other partner is a control.
    entry_year : int
        First treated year (2012 for KORUS); at least two years must precede it.
    outcome : str
        Flow column (``"imports"`` or ``"exports"``).
    log : bool
        Estimate on the log of the flow (effects in log points).
    n_placebo : int
        Draws of the package's sampled placebo standard error (``se_sampled``; at least 2).
    seed : int
        Seed of those draws.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    SDIDResult

    References
    ----------
    Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021).
        Synthetic difference-in-differences. American Economic Review 111(12), 4088-4118
        (Algorithm 4: placebo variance estimation).
    """
    level = _check_level(level)
    seed = _check_seed(seed)
    if isinstance(n_placebo, bool) or not isinstance(n_placebo, (int, np.integer)) or n_placebo < 2:
        raise ParameterError("n_placebo", n_placebo, "an integer >= 2 (200 or more for a stable standard error)")
    wide = _wide(panel, treated, entry_year, outcome, log)
    controls = list(wide.columns[1:])
    fit, by_year, notes = _sdid_fit(wide, treated, entry_year, alpha=1 - level, variance_method="placebo",
                                    n_bootstrap=int(n_placebo), seed=seed)
    rows = []
    for unit in controls:
        # the placebo fit keeps the fit's regularisation, as Algorithm 4 and R synthdid do
        placebo_fit, placebo_years, _ = _sdid_fit(wide[controls], unit, entry_year, variance_method="jackknife",
                                                  n_bootstrap=0, zeta_omega=fit.zeta_omega,
                                                  zeta_lambda=fit.zeta_lambda)
        rows.append({"partner": unit, "effect": float(placebo_fit.att),
                     **{f"effect_{y}": e for y, e in zip(placebo_years["year"], placebo_years["effect"], strict=True)}})
    placebo = pd.DataFrame(rows)
    se = float(placebo["effect"].std(ddof=0))
    if not np.isfinite(se):
        raise EstimationError(f"synthetic DiD for {treated} ({_label(outcome, log)}): the placebo standard error "
                              "is not finite")
    if se <= 1e-12 * max(1.0, float(wide.abs().to_numpy().max())):
        notes.append("the placebo effects do not vary (the controls follow exactly parallel paths): se = 0")
    z = stats.norm.ppf(0.5 + level / 2)
    att = float(fit.att)
    by_year["se"] = [float(placebo[f"effect_{y}"].std(ddof=0)) for y in by_year["year"]]
    by_year["ci_low"] = by_year["effect"] - z * by_year["se"]
    by_year["ci_high"] = by_year["effect"] + z * by_year["se"]
    unit_weights = (fit.get_unit_weights_df().rename(columns={"unit": "partner"})
                    .sort_values(["weight", "partner"], ascending=[False, True]).reset_index(drop=True))
    time_weights = fit.get_time_weights_df().rename(columns={"period": "year"})
    time_weights["year"] = time_weights["year"].astype(int)
    tol = 1e-12 * max(abs(att), 1.0)
    p_value = float(np.mean(np.abs(placebo["effect"]) >= abs(att) - tol))
    return SDIDResult(treated=treated, outcome=_label(outcome, log), entry_year=int(entry_year), estimate=att,
                      se=se, ci_low=att - z * se, ci_high=att + z * se, level=level, placebo_p_value=p_value,
                      se_sampled=float(fit.se), unit_weights=unit_weights, time_weights=time_weights,
                      effects_by_year=by_year, placebo=placebo, controls=controls, seed=seed,
                      n_placebo=int(n_placebo), pre_fit_rmse=float(fit.pre_treatment_fit), notes=notes)


def placebo_in_time(panel: pd.DataFrame, treated: str, entry_year: int, outcome: str = "imports", *,
                    shift: int = 4, log: bool = True, n_placebo: int = N_PLACEBO, seed: int = DEFAULT_SEED,
                    level: float = 0.95) -> SDIDResult:
    """Synthetic DiD at a fake entry date ``shift`` years before the real one, on the years
    before the real entry only: the design's falsification check. With parallel weighted
    pre-trends the fake "effect" is zero; a placebo p-value below 0.05 means the weights do
    not make the controls a credible counterfactual even before the agreement.

    Parameters
    ----------
    shift : int
        Years between the fake and the real entry (at least 1; at least two years must remain
        before the fake entry, else an :class:`EstimationError`: the data cannot support the check).

    Returns
    -------
    SDIDResult
        With ``entry_year`` the fake one.

    References
    ----------
    Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021).
        Synthetic difference-in-differences. American Economic Review 111(12), 4088-4118.
    Abadie, A. (2021). Using synthetic controls: feasibility, data requirements, and
        methodological aspects. Journal of Economic Literature 59(2), 391-425 (in-time placebos).
    """
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 1:
        raise ParameterError("shift", shift, "a whole number of years >= 1")
    before = panel[panel["year"] < entry_year]
    fake = int(entry_year) - int(shift)
    if before["year"].nunique() == 0 or fake - int(before["year"].min()) < 2:
        raise EstimationError(f"placebo in time: a fake entry {shift} years before {entry_year} leaves fewer than two "
                              f"years before it (the panel starts in {int(panel['year'].min())})")
    return synthetic_did(before, treated, fake, outcome, log=log, n_placebo=n_placebo, seed=seed, level=level)


def _delta_balance(x: float, m: float, ax: float, am: float, px: np.ndarray, pm: np.ndarray) -> tuple[float, float]:
    """``B = x(1 - e^-ax) - m(1 - e^-am)`` and its delta-method standard error from the paired
    placebo effects ``px``, ``pm`` (their covariance, ``ddof=0``)."""
    gx, gm = x * np.exp(-ax), m * np.exp(-am)
    v = np.cov(px, pm, ddof=0)
    var = gx**2 * v[0, 0] + gm**2 * v[1, 1] - 2 * gx * gm * v[0, 1]
    return float(x * (1 - np.exp(-ax)) - m * (1 - np.exp(-am))), float(np.sqrt(max(var, 0.0)))


def sdid_balance_effect(exports: SDIDResult, imports: SDIDResult, panel: pd.DataFrame, year: int, *,
                        unit: float = 1e3, level: float = 0.95) -> pd.DataFrame:
    """The SDID effects in US$ of the goods balance in ``year``.

    With ``a_x`` and ``a_m`` the SDID effects on log exports and log imports, and ``X_t``,
    ``M_t`` the treated partner's actual flows in ``year``, the counterfactual flows are
    ``X_t e^{-a_x}`` and ``M_t e^{-a_m}`` and the effect on the balance is

    ``B = X_t (1 - e^{-a_x}) - M_t (1 - e^{-a_m})``.

    Two versions: ``balance_effect`` uses the average post-period effects (the headline
    estimates); ``balance_effect_year`` uses the effects of ``year`` itself. Standard
    errors by the delta method,
    ``se_B^2 = g_x^2 var(a_x) + g_m^2 var(a_m) - 2 g_x g_m cov(a_x, a_m)`` with
    ``g_x = X_t e^{-a_x}`` and ``g_m = M_t e^{-a_m}``, where the variances and the
    covariance are those of the placebo effects, paired by the control partner treated as
    placebo in both fits (so the correlation of the two flows' noise across partners is
    kept). Intervals are normal at ``level``.

    Parameters
    ----------
    exports, imports : SDIDResult
        :func:`synthetic_did` on log exports and log imports of the same panel.
    panel : DataFrame
        The panel of the fits (``partner, year, exports, imports``, US$ million).
    year : int
        A post year of both fits.
    unit : float
        Divisor of the panel's US$ million (1e3: US$ billion).
    level : float

    Returns
    -------
    DataFrame
        One row indexed by ``year``: ``exports_actual, imports_actual, exports_effect,
        imports_effect, balance_effect, balance_effect_se, balance_effect_ci_low,
        balance_effect_ci_high`` and the same ``balance_effect_year*`` columns, and
        ``placebo_correlation`` (of the average effects), in US$ of ``unit``.

    References
    ----------
    Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021).
        Synthetic difference-in-differences. American Economic Review 111(12), 4088-4118.
    """
    level = _check_level(level)
    for name, res, flow in (("exports", exports, "exports"), ("imports", imports, "imports")):
        if not isinstance(res, SDIDResult) or res.outcome != f"log {flow}":
            got = res.outcome if isinstance(res, SDIDResult) else type(res).__name__
            raise ParameterError(name, got, f"an SDIDResult of synthetic_did(..., outcome={flow!r}, log=True)")
    if (exports.treated, exports.controls) != (imports.treated, imports.controls):
        raise ParameterError("imports", f"{imports.treated} with {len(imports.controls)} controls",
                             f"a fit with the same treated partner ({exports.treated}) and control list as exports",
                             "the placebo effects of the two fits cannot be paired")
    if isinstance(unit, bool) or not isinstance(unit, (int, float)) or unit <= 0:
        raise ParameterError("unit", unit, "a positive divisor of US$ million (1e3: US$ billion)")
    post = sorted(set(exports.effects_by_year["year"]) & set(imports.effects_by_year["year"]))
    if year not in post:
        raise ParameterError("year", year, post, "not a post year of both fits")
    rows = panel[(panel["partner"] == exports.treated) & (panel["year"] == year)]
    if len(rows) != 1:
        raise DataError("panel", "year", f"{len(rows)} rows for {exports.treated} in {year}; expected one")
    x = float(rows["exports"].iloc[0]) / unit
    m = float(rows["imports"].iloc[0]) / unit
    px = exports.placebo.set_index("partner")
    pm = imports.placebo.set_index("partner").loc[px.index]
    z = stats.norm.ppf(0.5 + level / 2)
    row = {"year": int(year), "exports_actual": x, "imports_actual": m,
           "exports_effect": x * (1 - np.exp(-exports.estimate)), "imports_effect": m * (1 - np.exp(-imports.estimate))}
    b, se = _delta_balance(x, m, exports.estimate, imports.estimate, px["effect"].to_numpy(), pm["effect"].to_numpy())
    row.update(balance_effect=b, balance_effect_se=se, balance_effect_ci_low=b - z * se,
               balance_effect_ci_high=b + z * se)
    ax = float(exports.effects_by_year.set_index("year").loc[year, "effect"])
    am = float(imports.effects_by_year.set_index("year").loc[year, "effect"])
    col = f"effect_{year}"
    b, se = _delta_balance(x, m, ax, am, px[col].to_numpy(), pm[col].to_numpy())
    row.update(balance_effect_year=b, balance_effect_year_se=se, balance_effect_year_ci_low=b - z * se,
               balance_effect_year_ci_high=b + z * se,
               placebo_correlation=float(np.corrcoef(px["effect"], pm["effect"])[0, 1]))
    out = pd.DataFrame([row]).set_index("year")
    out.attrs.update(level=level, unit=unit)
    return out


# ------------------------------------------------------------------ conformal ----


@dataclass
class ConformalResult:
    """Conformal inference (Chernozhukov, Wuthrich and Zhu 2021) for one outcome.

    Attributes
    ----------
    treated, outcome, proxy, scheme : str
    p_value : float
        Permutation p-value of the sharp null of no effect in every post year.
    statistic : float
        ``S_q`` of the residuals under that null.
    n_perms : int
        Number of permutations (``T`` for moving blocks): the smallest attainable p-value is
        ``1 / n_perms``.
    estimate : float
        Point estimate of the proxy (SC: the package's synthetic-control effect; DiD: the
        post-minus-pre difference against the control mean).
    level : float
    ci_low, ci_high : float
        Hull of the confidence set for a constant effect (``nan`` when empty).
    contiguous, grid_limited : bool
        Whether the set has no hole in the grid; whether it touches the grid's edge (then
        it may extend beyond it).
    grid : DataFrame
        ``effect, p_value, in_set``.
    n_pre, n_post : int
    q : float
        Norm of the statistic (1, 2 or inf).
    notes : list of str
    """

    treated: str
    outcome: str
    proxy: str
    scheme: str
    p_value: float
    statistic: float
    n_perms: int
    estimate: float
    level: float
    ci_low: float
    ci_high: float
    contiguous: bool
    grid_limited: bool
    grid: pd.DataFrame = field(repr=False)
    n_pre: int = 0
    n_post: int = 0
    q: float = 1.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One tidy row of the test and the set."""
        return pd.DataFrame([{
            "treated": self.treated, "outcome": self.outcome, "proxy": self.proxy, "scheme": self.scheme,
            "p_value_no_effect": self.p_value, "min_attainable_p": 1 / self.n_perms, "estimate": self.estimate,
            "level": self.level, "set_low": self.ci_low, "set_high": self.ci_high, "contiguous": self.contiguous,
            "grid_limited": self.grid_limited, "n_pre": self.n_pre, "n_post": self.n_post}])


def permutation_p_value(residuals: np.ndarray, n_post: int, *, q: float = 1, scheme: str = "moving_block",
                        n_iid: int = 10000, seed: int = DEFAULT_SEED) -> tuple[float, float, int]:
    """Permutation p-value of residuals whose last ``n_post`` entries are the post period.

    ``S_q(u) = (T_*^{-1/2} sum_{t > T0} |u_t|^q)^{1/q}``; ``p = #{pi : S(u_pi) >= S(u)} / |Pi|``
    over the moving-block permutations (the ``T`` cyclic shifts, identity included) or,
    with ``scheme="iid"``, all ``T!`` permutations when ``T! <= n_iid`` and otherwise
    ``n_iid - 1`` draws from ``np.random.default_rng(seed)`` plus the identity.

    Returns
    -------
    (p_value, statistic, n_perms)

    References
    ----------
    Chernozhukov, V., Wuthrich, K. and Zhu, Y. (2021). An exact and robust conformal
        inference method for counterfactual and synthetic controls. JASA 116(536),
        1849-1864 (eq. 2 and Section 2.2).
    """
    u = np.asarray(residuals, dtype=float)
    t = len(u)
    if not 1 <= n_post < t:
        raise ParameterError("n_post", n_post, f"an integer in 1-{t - 1} (the series has {t} periods)")
    if scheme not in _SCHEMES:
        raise ParameterError("scheme", scheme, _SCHEMES)
    if q not in (1, 2, np.inf):
        raise ParameterError("q", q, ["1", "2", "inf"])
    if scheme == "moving_block":
        index = (np.arange(t)[None, :] + np.arange(t)[:, None]) % t
    elif t <= 12 and factorial(t) <= n_iid:
        index = np.array(list(permutations(range(t))))
    else:
        rng = np.random.default_rng(_check_seed(seed))
        index = np.vstack([np.arange(t)] + [rng.permutation(t) for _ in range(int(n_iid) - 1)])

    def stat(post: np.ndarray) -> np.ndarray:
        a = np.abs(post)
        if q == np.inf:
            return a.max(axis=-1)
        return ((a**q).sum(axis=-1) / np.sqrt(n_post)) ** (1 / q)

    observed = float(stat(u[-n_post:]))
    permuted = stat(u[index][:, -n_post:])
    tol = 1e-12 * max(abs(observed), 1.0)
    return float(np.mean(permuted >= observed - tol)), observed, int(len(index))


def _did_residuals(y1: np.ndarray, y0: np.ndarray, n_post: int, effect: float) -> np.ndarray:
    """Residuals of the DiD proxy under the null ``effect``: ``Y1 - effect*post - mean_j Y_j``
    minus its mean over all periods (the unit effect fitted under the null)."""
    z = y1 - y0.mean(axis=1)
    z[-n_post:] = z[-n_post:] - effect
    return z - z.mean()


def conformal_inference(panel: pd.DataFrame, treated: str, entry_year: int, outcome: str = "imports", *,
                        log: bool = True, proxy: str = "sc", q: float = 1, scheme: str = "moving_block",
                        level: float = 0.90, grid: np.ndarray | None = None, n_iid: int = 10000,
                        seed: int = DEFAULT_SEED) -> ConformalResult:
    """Conformal permutation test of no effect and confidence set for a constant effect.

    Under the sharp null that the effect is ``theta`` in every post year, the treated
    partner's counterfactual is its outcome minus ``theta`` after ``entry_year``; a proxy
    is fitted on all years under that null and the residuals are permuted over time. The
    p-value is the share of permutations whose post-period statistic ``S_q`` is at least
    the observed one; it is exact when the residuals are exchangeable and approximately
    valid under stationary weakly dependent errors for the moving-block permutations
    (the ``T`` cyclic shifts, so the smallest attainable p-value is ``1/T``). The
    confidence set is every ``theta`` of ``grid`` with ``p > 1 - level``.

    Proxies: ``"sc"``, the constrained least-squares synthetic control (simplex weights, no
    intercept) of :meth:`diff_diff.SyntheticControlResults.conformal_test`; ``"did"``, the
    difference-in-differences proxy ``mu + mean_j Y_jt`` (written here).

    Parameters
    ----------
    panel : DataFrame
        ``partner, year, outcome``, balanced.
    treated : str
    entry_year : int
        First treated year; at least two years must precede it.
    outcome : str
    log : bool
        Test on log flows (effects in log points).
    proxy : {"sc", "did"}
    q : {1, 2, inf}
        Norm of the statistic (1: robust to heavy tails, the paper's default).
    scheme : {"moving_block", "iid"}
    level : float
        Confidence level of the set (0.90 by default, as in the paper: with ``T = 20``
        years the moving-block p-value moves in steps of 0.05).
    grid : array, optional
        Constant effects to test (default :data:`CONFORMAL_GRID`, -1.5 to 1.5 log points).
    n_iid : int
        Permutations for ``scheme="iid"``.
    seed : int
        Seed of the sampled permutations (``scheme="iid"`` only; moving blocks are fixed).

    Returns
    -------
    ConformalResult

    References
    ----------
    Chernozhukov, V., Wuthrich, K. and Zhu, Y. (2021). An exact and robust conformal
        inference method for counterfactual and synthetic controls. Journal of the American
        Statistical Association 116(536), 1849-1864.
    """
    level = _check_level(level)
    seed = _check_seed(seed)
    if proxy not in _PROXIES:
        raise ParameterError("proxy", proxy, _PROXIES)
    if scheme not in _SCHEMES:
        raise ParameterError("scheme", scheme, _SCHEMES)
    if q not in (1, 2, np.inf):
        raise ParameterError("q", q, ["1", "2", "inf"])
    if isinstance(n_iid, bool) or not isinstance(n_iid, (int, np.integer)) or n_iid < 1:
        raise ParameterError("n_iid", n_iid, "a positive integer")
    grid = CONFORMAL_GRID if grid is None else np.asarray(grid, dtype=float)
    if grid.ndim != 1 or len(grid) < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ParameterError("grid", f"array of shape {grid.shape}", "an increasing 1-d array of at least two "
                             "finite effects (log points when log=True)")
    wide = _wide(panel, treated, entry_year, outcome, log)
    n_pre = int((wide.index < entry_year).sum())
    n_post = len(wide) - n_pre
    notes = []
    if n_post >= n_pre:
        notes.append(f"T0={n_pre} <= T*={n_post}: the conformal test's size guarantee is weak")
    alpha = round(1 - level, 12)
    y1 = wide.iloc[:, 0].to_numpy()
    y0 = wide.iloc[:, 1:].to_numpy()
    if proxy == "did":
        p0, s0, n_perms = permutation_p_value(_did_residuals(y1, y0, n_post, 0.0), n_post, q=q, scheme=scheme,
                                              n_iid=n_iid, seed=seed)
        pvals = [permutation_p_value(_did_residuals(y1, y0, n_post, th), n_post, q=q, scheme=scheme,
                                     n_iid=n_iid, seed=seed)[0] for th in grid]
        pre = wide.index < entry_year
        estimate = float((y1[~pre].mean() - y1[pre].mean()) - (y0[~pre].mean() - y0[pre].mean()))
    else:
        from diff_diff import SyntheticControl

        long = wide.stack().rename("y").reset_index()
        long["d"] = ((long["partner"] == treated) & (long["year"] >= entry_year)).astype(int)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = SyntheticControl(v_method="inverse_variance", seed=seed).fit(
                long, "y", "d", "partner", "year", post_periods=[int(y) for y in wide.index if y >= entry_year],
                treated_unit=treated)
            kw = dict(q=q, scheme=scheme, n_iid=int(n_iid), seed=seed)
            test0 = fit.conformal_test(0.0, **kw)
            pvals = [float(fit.conformal_test(float(th), **kw)["p_value"]) for th in grid]
        notes += sorted(set(_record(caught)))
        p0, s0, n_perms = float(test0["p_value"]), float(test0["S_observed"]), int(test0["n_perms"])
        estimate = float(fit.att)
    pvals = np.asarray(pvals, dtype=float)
    in_set = pvals > alpha
    table = pd.DataFrame({"effect": grid, "p_value": pvals, "in_set": in_set})
    if alpha < 1 / n_perms:
        notes.append(f"level {level} needs p <= {alpha:g} to reject, below the smallest attainable p 1/{n_perms}: "
                     "the set is the whole line")
    if in_set.any():
        lo, hi = float(grid[in_set].min()), float(grid[in_set].max())
        inside = (grid > lo) & (grid < hi)
        contiguous = bool(in_set[inside].all())
        limited = bool(in_set[0] or in_set[-1])
    else:
        lo = hi = np.nan
        contiguous, limited = True, False
    return ConformalResult(treated=treated, outcome=_label(outcome, log), proxy=proxy, scheme=scheme, p_value=p0,
                           statistic=s0, n_perms=n_perms, estimate=estimate, level=level, ci_low=lo, ci_high=hi,
                           contiguous=contiguous, grid_limited=limited, grid=table, n_pre=n_pre, n_post=n_post,
                           q=float(q), notes=notes)


# ------------------------------------------------------------------ Conley-Taber ----


@dataclass
class ConleyTaberResult:
    """Conley-Taber inference for the treated partner's DiD estimate.

    Attributes
    ----------
    treated, outcome : str
    estimate : float
        ``(post - pre mean of the treated) - (post - pre mean of the controls' average)``.
    p_value : float
        Share of control residuals at least as large in absolute value as the estimate.
    level, ci_low, ci_high : float
        ``[estimate - Q(1 - a/2), estimate - Q(a/2)]`` with ``Q`` the empirical quantiles
        of the control residuals (``a = 1 - level``).
    residuals : DataFrame
        ``partner, residual``: each control's DiD against the control average.
    """

    treated: str
    outcome: str
    estimate: float
    p_value: float
    level: float
    ci_low: float
    ci_high: float
    residuals: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """One tidy row."""
        return pd.DataFrame([{"treated": self.treated, "outcome": self.outcome, "estimate": self.estimate,
                              "p_value": self.p_value, "level": self.level, "ci_low": self.ci_low,
                              "ci_high": self.ci_high, "n_controls": len(self.residuals)}])


def conley_taber(panel: pd.DataFrame, treated: str, entry_year: int, outcome: str = "imports", *,
                 log: bool = True, level: float = 0.90) -> ConleyTaberResult:
    """Difference-in-differences with one treated partner, inference from the controls.

    The estimate is ``alpha = dY_1 - mean_j dY_j`` with ``dY`` the post-minus-pre change
    of the (log) flow. Its error is the treated partner's own ``eta_1``; Conley and Taber
    (2011) estimate the distribution of ``eta`` by the controls' residuals
    ``eta_j = dY_j - mean_k dY_k``, consistently as the number of controls grows with one
    treated unit. The p-value of no effect is ``#{|eta_j| >= |alpha|} / N0`` and the
    interval inverts the empirical quantiles (``numpy.quantile``, ``inverted_cdf``). The
    errors must be identically distributed across partners (a large and a small partner
    are not), which is the method's main assumption.

    Parameters
    ----------
    panel : DataFrame
    treated : str
    entry_year : int
    outcome : str
    log : bool
    level : float
        0.90 by default: with 30 controls a 95% interval rests on the most extreme residual.

    Returns
    -------
    ConleyTaberResult

    References
    ----------
    Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with
        a small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    """
    level = _check_level(level)
    wide = _wide(panel, treated, entry_year, outcome, log)
    pre = wide.index < entry_year
    change = wide[~pre].mean() - wide[pre].mean()
    controls = change.iloc[1:]
    estimate = float(change.iloc[0] - controls.mean())
    eta = controls - controls.mean()
    a = 1 - level
    q_lo, q_hi = np.quantile(eta.to_numpy(), [a / 2, 1 - a / 2], method="inverted_cdf")
    p = float(np.mean(np.abs(eta.to_numpy()) >= abs(estimate) - 1e-12 * max(abs(estimate), 1.0)))
    residuals = eta.rename("residual").rename_axis("partner").reset_index()
    return ConleyTaberResult(treated=treated, outcome=_label(outcome, log), estimate=estimate, p_value=p,
                             level=level, ci_low=float(estimate - q_hi), ci_high=float(estimate - q_lo),
                             residuals=residuals)


# ------------------------------------------------------------------ Honest DiD ----


def _event_time(name: str) -> int:
    match = _EVENT_NAME.match(str(name))
    if not match:
        raise DataError("result.vcov", str(name), "not an event-study coefficient name (ev_m<k> or ev_p<k>)")
    sign, k = match.groups()
    return -int(k) if sign == "m" else int(k)


def event_study_to_diff_diff(result, level: float = 0.95):
    """An :class:`~korus_research.effects.EventStudyResult` as a
    :class:`diff_diff.MultiPeriodDiDResults` (the input of :class:`diff_diff.HonestDiD`).

    Period effects are the event-time coefficients (the reference period left out, as
    diff_diff expects), ``vcov`` their clustered covariance in event-time order and
    ``interaction_indices`` the map from event time to its row. The average post effect
    and its standard error are filled from the same covariance.

    References
    ----------
    Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review
        of Economic Studies 90(5), 2555-2591.
    """
    from diff_diff import MultiPeriodDiDResults, PeriodEffect

    level = _check_level(level)
    coef = getattr(result, "coefficients", None)
    vcov = getattr(result, "vcov", None)
    if not isinstance(coef, pd.DataFrame) or not isinstance(vcov, pd.DataFrame):
        raise ParameterError("result", type(result).__name__,
                             "an EventStudyResult of effects.event_study with its vcov")
    times = {_event_time(n): n for n in vcov.index}
    order = sorted(times)
    missing = set(coef["event_time"]) - set(order)
    # event times the regression could not estimate (no year of the panel there) carry NaN: left out
    not_estimated = set(coef.loc[coef["event_time"].isin(missing) & coef["estimate"].isna(), "event_time"])
    ref = sorted(missing - not_estimated)
    if len(ref) != 1:
        raise DataError("result.coefficients", "event_time", f"expected one reference period without a "
                        f"coefficient, found {ref}")
    reference = int(ref[0])
    table = coef.set_index("event_time")
    v = vcov.loc[[times[k] for k in order], [times[k] for k in order]].to_numpy(dtype=float)
    z = stats.norm.ppf(0.5 + level / 2)
    period_effects = {}
    for k in order:
        b, se = float(table.loc[k, "estimate"]), float(table.loc[k, "se"])
        t = b / se if se > 0 else np.nan
        period_effects[k] = PeriodEffect(period=k, effect=b, se=se, t_stat=t,
                                         p_value=float(2 * stats.norm.sf(abs(t))) if se > 0 else np.nan,
                                         conf_int=(b - z * se, b + z * se))
    post = [k for k in order if k >= 0]
    pre = [k for k in order if k < 0]
    if not pre:
        raise EstimationError("the event study has no pre-period coefficient: Honest DiD needs at least one lead")
    if not post:
        raise EstimationError("the event study has no post-period coefficient")
    idx = {k: i for i, k in enumerate(order)}
    w = np.zeros(len(order))
    w[[idx[k] for k in post]] = 1 / len(post)
    avg, avg_se = float(w @ np.array([period_effects[k].effect for k in order])), float(np.sqrt(w @ v @ w))
    avg_t = avg / avg_se
    return MultiPeriodDiDResults(
        period_effects=period_effects, avg_att=avg, avg_se=avg_se, avg_t_stat=avg_t,
        avg_p_value=float(2 * stats.norm.sf(abs(avg_t))), avg_conf_int=(avg - z * avg_se, avg + z * avg_se),
        n_obs=int(getattr(result, "nobs", 0)), n_treated=1, n_control=int(getattr(result, "n_partners", 1)) - 1,
        pre_periods=[k for k in order if k < 0] + ([reference] if reference < 0 else []),
        post_periods=post + ([reference] if reference >= 0 else []), alpha=1 - level, vcov=v,
        reference_period=reference, interaction_indices=idx)


@dataclass
class HonestDiDResult:
    """Rambachan-Roth sensitivity of one event-study target.

    Attributes
    ----------
    outcome, target : str
        The event study's outcome; ``"average of event times 0..4"`` or ``"event time k"``.
    estimate, se : float
        The target under parallel trends and its standard error.
    level : float
    relative_magnitude, smoothness : DataFrame
        ``M, id_low, id_high, ci_low, ci_high, significant, same_sign``: the identified set
        (``nan`` when the estimated pre-trend itself violates the restriction) and the
        robust confidence set for each ``Mbar`` (relative magnitudes: post-period changes
        in the trend violation at most ``Mbar`` times the largest pre-period change) and
        each ``M`` (smoothness: the violation's slope changes by at most ``M`` per period);
        whether the set excludes zero, and whether it does on the estimate's side.
    breakdown_mbar, breakdown_m : float
        The largest ``Mbar`` (``M``) under which the robust set excludes zero on the side of
        the estimate (0 when it does not even at 0; ``inf`` when it still does at
        :data:`BREAKDOWN_MAX`).
    notes : list of str
    """

    outcome: str
    target: str
    estimate: float
    se: float
    level: float
    relative_magnitude: pd.DataFrame
    smoothness: pd.DataFrame
    breakdown_mbar: float
    breakdown_m: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One tidy row."""
        return pd.DataFrame([{"outcome": self.outcome, "target": self.target, "estimate": self.estimate,
                              "se": self.se, "level": self.level, "breakdown_mbar": self.breakdown_mbar,
                              "breakdown_m": self.breakdown_m}])


def _breakdown(significant, grid: list[float], tol: float) -> float:
    """Largest ``M`` with ``significant(M)`` (0 if not at 0; ``inf`` if still at
    :data:`BREAKDOWN_MAX`), by bisection between the last significant and the first
    non-significant value of ``grid`` (extended by doubling up to :data:`BREAKDOWN_MAX`)."""
    if not significant(0.0):
        return 0.0
    lo, hi = 0.0, None
    for m in grid:
        if m <= 0:
            continue
        if significant(m):
            lo = m
        else:
            hi = m
            break
    step = min([m for m in grid if m > 0], default=0.01)
    while hi is None:
        if lo >= BREAKDOWN_MAX:
            return np.inf
        m = min(max(2 * lo, step), BREAKDOWN_MAX)
        if significant(m):
            lo = m
        else:
            hi = m
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if significant(mid):
            lo = mid
        else:
            hi = mid
    return float(lo)


def honest_did(result, target: str | int = "average", *, mbar_grid=MBAR_GRID, m_grid=M_GRID,
               level: float = 0.95, tol: float = 1e-3, breakdown: bool = True) -> HonestDiDResult:
    """Robust confidence sets and breakdown values for an event study (Rambachan and Roth 2023).

    ``result`` is an :class:`~korus_research.effects.EventStudyResult` (its ``coefficients``
    and clustered ``vcov``), converted by :func:`event_study_to_diff_diff`; the sets come
    from :class:`diff_diff.HonestDiD`: relative magnitudes (``Delta^RM(Mbar)``; the
    identified set from the union of polyhedra, widened by the normal quantile times the
    target's standard error, which is conservative) and smoothness (``Delta^SD(M)``; the
    optimal fixed-length interval, which extrapolates the pre-trend linearly at ``M = 0``).
    The breakdown value is the largest ``M`` at which the robust set still excludes zero
    on the side of the parallel-trends estimate, found by bisection to ``tol`` between the
    grid values that bracket it (:meth:`diff_diff.HonestDiD.breakdown_value` asks only
    whether the set covers zero, so a set that flips sign would count as significant).

    The restrictions are built on consecutive event times. The event study bins its
    endpoints (the first lead pools every earlier year, the last lag every later year), so
    the bins enter as if they were single years; an unbinned window is the clean input.

    Parameters
    ----------
    result : EventStudyResult
    target : "average" or int
        The average of the post-period coefficients, or the coefficient of one event time
        (e.g. the compare year: 2016 is event time 4 for KORUS).
    mbar_grid, m_grid : sequence of float
        Values of ``Mbar`` and ``M`` shown (non-negative).
    level : float
    tol : float
        Precision of the breakdown values.
    breakdown : bool
        Compute the breakdown values (each smoothness fit takes about 0.4 s); ``nan`` if not.

    Returns
    -------
    HonestDiDResult

    References
    ----------
    Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review
        of Economic Studies 90(5), 2555-2591.
    """
    from diff_diff import HonestDiD

    level = _check_level(level)
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ParameterError("tol", tol, "a positive number below 1 (e.g. 1e-3)")
    for name, grid in (("mbar_grid", mbar_grid), ("m_grid", m_grid)):
        values = np.asarray(grid, dtype=float)
        if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ParameterError(name, grid, "a non-empty sequence of non-negative numbers")
    converted = event_study_to_diff_diff(result, level)
    post = list(converted.post_periods)
    post = [k for k in post if k in converted.period_effects]
    if isinstance(target, str) and target == "average":
        l_vec = np.ones(len(post)) / len(post)
        label = f"average of event times {post[0]}..{post[-1]}"
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool) and target in post:
        l_vec = np.zeros(len(post))
        l_vec[post.index(int(target))] = 1.0
        label = f"event time {int(target)}"
    else:
        raise ParameterError("target", target, ["average", *post])
    estimate = float(l_vec @ np.array([converted.period_effects[k].effect for k in post]))
    sign = 1.0 if estimate >= 0 else -1.0
    notes = []
    tables = {}
    breakdowns = {}
    for method, grid in (("relative_magnitude", mbar_grid), ("smoothness", m_grid)):
        honest = HonestDiD(method=method, alpha=1 - level, l_vec=l_vec)
        fits = {}

        def robust(m: float, honest=honest, fits=fits):
            if m not in fits:
                fits[m] = honest.fit(converted, M=float(m))
            return fits[m]

        def significant(m: float) -> bool:
            # significant with the sign of the estimate (a set on the other side of zero is a reversal)
            r = robust(m)
            return bool(np.isfinite(r.ci_lb) and np.isfinite(r.ci_ub) and
                        (r.ci_lb > 0 if sign > 0 else r.ci_ub < 0))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = [{"M": float(m), "id_low": robust(m).lb, "id_high": robust(m).ub, "ci_low": robust(m).ci_lb,
                     "ci_high": robust(m).ci_ub} for m in grid]
            breakdowns[method] = (_breakdown(significant, sorted(float(m) for m in grid), tol) if breakdown
                                  else np.nan)
        notes += sorted(set(_record(caught)))
        table = pd.DataFrame(rows)
        table["significant"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
        table["same_sign"] = np.where(sign > 0, table["ci_low"] > 0, table["ci_high"] < 0)
        tables[method] = table
        if breakdowns[method] == np.inf:
            notes.append(f"{method}: significant up to M = {BREAKDOWN_MAX:g}, the end of the search")
        elif breakdowns[method] == 0 and table["significant"].iloc[0] and not table["same_sign"].iloc[0]:
            notes.append(f"{method}: at M = 0 the robust set excludes zero on the other side of the estimate "
                         "(the extrapolated pre-trend reverses the sign)")
    idx = [converted.interaction_indices[k] for k in post]
    se = float(np.sqrt(l_vec @ converted.vcov[np.ix_(idx, idx)] @ l_vec))
    return HonestDiDResult(outcome=str(getattr(result, "outcome", "")), target=label, estimate=estimate, se=se,
                           level=level, relative_magnitude=tables["relative_magnitude"],
                           smoothness=tables["smoothness"], breakdown_mbar=breakdowns["relative_magnitude"],
                           breakdown_m=breakdowns["smoothness"], notes=notes)


# ------------------------------------------------------------------ a study ----


@dataclass
class SingleUnitReport:
    """:func:`study_single_unit` for one study: every result, and :meth:`tables`."""

    partner: str
    entry_year: int
    compare_year: int
    controls: list[str]
    dropped_controls: list[str]
    panel: pd.DataFrame = field(repr=False)
    sdid: dict[str, SDIDResult] = field(repr=False)
    balance: pd.DataFrame
    conformal: dict[tuple[str, str], ConformalResult]
    conley_taber: dict[str, ConleyTaberResult]
    honest: dict[tuple[str, str], HonestDiDResult]

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tidy tables: ``sdid``, ``balance``, ``conformal``, ``conley_taber``, ``honest``."""
        return {
            "sdid": pd.concat([r.summary() for r in self.sdid.values()], ignore_index=True),
            "balance": self.balance,
            "conformal": pd.concat([r.summary() for r in self.conformal.values()], ignore_index=True),
            "conley_taber": pd.concat([r.summary() for r in self.conley_taber.values()], ignore_index=True),
            "honest": pd.concat([r.summary() for r in self.honest.values()], ignore_index=True),
        }


def study_single_unit(annual: pd.DataFrame, study, *, seed: int = DEFAULT_SEED, n_placebo: int = N_PLACEBO,
                      level: float = 0.95, conformal_level: float = 0.90) -> SingleUnitReport:
    """Every single-unit method for a :class:`~korus_research.study.Study` on ``census_annual``.

    The control group and panel are those of notebook 03 (``effects.parse_control_group``
    with the study's rank year and exclusion years; ``effects.partner_panel`` over
    ``study.panel_years``); the event study is ``effects.event_study`` (OLS on logs, the
    study's window). The balance effect is for ``study.compare_year``; the Honest DiD
    targets are the average post effect and the compare year's event time.

    References
    ----------
    Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021).
        Synthetic difference-in-differences. American Economic Review 111(12), 4088-4118.
    Chernozhukov, V., Wuthrich, K. and Zhu, Y. (2021). An exact and robust conformal
        inference method for counterfactual and synthetic controls. Journal of the American
        Statistical Association 116(536), 1849-1864.
    Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with
        a small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review
        of Economic Studies 90(5), 2555-2591.
    """
    from . import effects

    if not getattr(study, "has_agreement", True) and not getattr(study, "hypothetical", False):
        raise ParameterError("study", getattr(study, "partner", study), "a study with an entry date")
    controls = effects.parse_control_group(study.controls, annual, study.partner,
                                           rank_year=study.control_rank_year,
                                           no_agreement=study.control_exclusion_years)
    panel = effects.partner_panel(annual, [study.partner, *controls], *study.panel_years)
    entry_year = int(study.entry.year)
    years = sorted(set(panel.loc[panel["partner"] == study.partner, "year"]))
    # the methods need a balanced panel: controls missing a year of the partner's panel or with a zero flow
    # (e.g. partners listed by Census only from 1992) are left out, and said so
    complete = panel[panel["year"].isin(years) & (panel["imports"] > 0) & (panel["exports"] > 0)]
    counts = complete.groupby("partner")["year"].nunique()
    dropped = sorted(set(controls) - set(counts[counts == len(years)].index))
    controls = [c for c in controls if c not in dropped]
    if len(controls) < 2:
        raise EstimationError(f"single-unit inference for {study.partner}: fewer than two control partners have "
                              f"positive flows in every year {years[0] if years else '-'}-{years[-1] if years else '-'}")
    panel = panel[panel["partner"].isin([study.partner, *controls]) & panel["year"].isin(years)]
    if sum(y < entry_year for y in years) < 2 or not any(y >= entry_year for y in years):
        # a data limitation of this study, not a bad parameter: notebooks skip the section with this reason
        raise EstimationError(f"single-unit inference for {study.partner} needs at least two years before the entry "
                              f"({entry_year}) and one after; the Census panel covers "
                              f"{years[0] if years else '-'}-{years[-1] if years else '-'}")
    sdid = {flow: synthetic_did(panel, study.partner, entry_year, flow, n_placebo=n_placebo, seed=seed, level=level)
            for flow in ("imports", "exports")}
    balance = sdid_balance_effect(sdid["exports"], sdid["imports"], panel, int(study.compare_year), level=level)
    conformal = {(flow, proxy): conformal_inference(panel, study.partner, entry_year, flow, proxy=proxy,
                                                    level=conformal_level, seed=seed)
                 for flow in ("imports", "exports") for proxy in _PROXIES}
    ct = {flow: conley_taber(panel, study.partner, entry_year, flow, level=conformal_level)
          for flow in ("imports", "exports")}
    honest = {}
    for flow in ("imports", "exports"):
        es = effects.event_study(panel, study.partner, study.entry, flow, "ols", study.event_window, level=level)
        k = min(int(study.compare_year) - entry_year, study.event_window[1])
        honest[(flow, "average")] = honest_did(es, "average", level=level)
        honest[(flow, f"event time {k}")] = honest_did(es, k, level=level)
    return SingleUnitReport(partner=study.partner, entry_year=entry_year, compare_year=int(study.compare_year),
                            controls=controls, dropped_controls=dropped, panel=panel, sdid=sdid, balance=balance, conformal=conformal, conley_taber=ct,
                            honest=honest)
