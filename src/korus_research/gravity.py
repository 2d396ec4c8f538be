"""Structural gravity: PPML with high-dimensional fixed effects, agreement terms,
partial-equilibrium and general-equilibrium counterfactuals.

Works on any bilateral panel with columns ``exporter, importer, year`` (and ``product``)
and a flow. :func:`ppml` takes any fixed effects given as column combinations (named
presets: three-way, two-way, four-way with products), symmetric pair ids with one shared
intra-national effect, and one- or two-way clustered errors. Agreement terms: the study's
own (:func:`add_agreement_terms`), one per agreement (:func:`add_agreement_id_terms`), by
direction of trade (:func:`split_by_direction`), phase-in lags and leads at the panel's
own frequency (:func:`add_phase_in_terms`) with a joint lead test (:func:`wald_test`).
:data:`MODELS` and :func:`estimate_model` combine them; :func:`ge_bootstrap` gives the GE
counterfactual (:func:`ge_with_imbalances`) percentile intervals from a bootstrap over pairs.

References
----------
Santos Silva, J. M. C. and Tenreyro, S. (2006). The log of gravity. Review of Economics
    and Statistics 88(4), 641-658.
Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
    Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD (chapters 1-2).
Correia, S., Guimaraes, P. and Zylkin, T. (2020). Fast Poisson estimation with
    high-dimensional fixed effects. Stata Journal 20(1), 95-115 (ppmlhdfe).
Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
    97(2), 351-355 (exact hat algebra).
Baier, S. L. and Bergstrand, J. H. (2007). Do free trade agreements actually increase
    members' international trade? Journal of International Economics 71(1), 72-95.
Baier, S. L., Yotov, Y. V. and Zylkin, T. (2019). On the widely differing effects of free
    trade agreements. Journal of International Economics 116, 206-226.
Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2011). Robust inference with multiway
    clustering. Journal of Business & Economic Statistics 29(2), 238-249.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError, EstimationError, KorusError

#: Small-sample conventions of the clustered (and heteroskedasticity-robust) standard errors.
#: ``stata``: G/(G-1) only; ``fixest``: G/(G-1) times (N-1)/(N-K), K counting coefficients
#: and the levels of fixed effects not nested in the clusters, less one per extra dimension
#: (fixest's default, ``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)``).
SSC_CONVENTIONS = {
    "stata": {"k_adj": False, "G_adj": True},
    "fixest": {"k_adj": True, "k_fixef": "nonnested", "G_adj": True},
}


class GravityError(EstimationError):
    """Bad input for the gravity estimator."""


def validate_panel(panel: pd.DataFrame, flow: str, file: str = "gravity panel",
                   keys: tuple[str, ...] = ("exporter", "importer", "year")) -> None:
    """Columns present, observations unique on ``keys`` (pair-years by default), flows
    non-negative and not missing."""
    need = list(keys) + [flow]
    missing = [c for c in need if c not in panel]
    if missing:
        raise DataError(file, missing[0], f"missing column(s) {missing}")
    keys = list(keys)
    what = "duplicated pair-year" if keys == ["exporter", "importer", "year"] else f"duplicated {'+'.join(keys)}"
    dup = panel.duplicated(keys, keep=False)
    if dup.any():
        raise DataError(file, "+".join(keys), what, panel.loc[dup, keys].astype(str).agg("/".join, axis=1).tolist())
    bad = panel[flow].isna() | (panel[flow] < 0)
    if bad.any():
        raise DataError(file, flow, "negative or missing trade flow",
                        panel.loc[bad, keys].astype(str).agg("/".join, axis=1).tolist())


def add_agreement_terms(panel: pd.DataFrame, members: tuple[str, str], entry_year: int,
                        name: str = "agreement", other: pd.Series | None = None,
                        lags: tuple[int, ...] = (), lead: int | None = None,
                        border_by_year: bool = False, within_pair: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Add the agreement's terms to a gravity panel.

    ``<name>``: 1 for flows between the two ``members`` (both directions) from
    ``entry_year`` on; ``<name>_lag<L>``: from ``entry_year + L`` on (phase-in: the effect
    after L years is the sum of the terms); ``<name>_lead<L>``: from ``entry_year - L`` on
    (a lead: non-zero means trade moved before the agreement); ``other_agreements``: every
    other agreement (``other``, a 0/1 series aligned with the panel), the specific one
    excluded; ``border_<year>``: international flows in that year, when domestic flows are
    present (one year left out), which absorbs globalisation trends (Bergstrand, Larch and
    Yotov 2015). A lead or lag that is constant over the members' years (it falls outside the
    panel) is left out and listed in ``attrs["dropped_terms"]``. ``within_pair`` (models with
    pair effects): the agreement's own term must vary over the members' years, else
    :class:`GravityError` (the pair effect would absorb it).
    """
    a, b = members
    pair = ((panel["exporter"] == a) & (panel["importer"] == b)) | ((panel["exporter"] == b) & (panel["importer"] == a))
    if not pair.any():
        raise GravityError(f"no flows between {a} and {b} in the panel")
    out = panel.copy()
    terms = []
    out[name] = (pair & (out["year"] >= entry_year)).astype(float)
    terms.append(name)
    for lag in lags:
        col = f"{name}_lag{lag}"
        out[col] = (pair & (out["year"] >= entry_year + lag)).astype(float)
        terms.append(col)
    if lead:
        col = f"{name}_lead{lead}"
        out[col] = (pair & (out["year"] >= entry_year - lead) & (out["year"] < entry_year)).astype(float)
        terms.append(col)
    if other is not None:
        out["other_agreements"] = ((other.reindex(out.index).fillna(0) > 0) & ~(out[name] > 0)).astype(float)
        terms.append("other_agreements")
    if border_by_year:
        intl = out["exporter"] != out["importer"]
        if intl.all():
            raise GravityError("border-by-year terms need domestic flows (exporter == importer)")
        for y in sorted(out["year"].unique())[1:]:
            out[f"border_{y}"] = (intl & (out["year"] == y)).astype(float)
            terms.append(f"border_{y}")
    # a lead or lag that falls outside the panel's years (constant for the pair) is left out
    timing = [t for t in terms if t.startswith(f"{name}_lag") or t.startswith(f"{name}_lead")]
    dropped = [t for t in timing if out.loc[pair, t].nunique() < 2]
    terms = [t for t in terms if t not in dropped]
    out = out.drop(columns=dropped)
    out.attrs["dropped_terms"] = dropped
    for t in terms:
        if out[t].nunique() < 2:
            raise GravityError(f"term {t!r} does not vary in the panel (is the agreement in these years?)")
    if within_pair:
        # with pair effects a term that is constant over the members' years is absorbed by them
        years = f"{int(out['year'].min())}-{int(out['year'].max())}"
        if out.loc[pair, name].nunique() < 2:
            raise GravityError(f"the agreement's term is constant for {a}-{b} over the panel's years ({years}; in force "
                               f"from {entry_year}): the pair effect absorbs it, so the panel cannot identify it")
    return out, terms


def split_by_direction(data: pd.DataFrame, terms: list[str], members: tuple[str, str],
                       name: str = "agreement") -> tuple[pd.DataFrame, list[str]]:
    """Replace each of the agreement's terms (``<name>``, its lags and lead) by two directional
    terms, ``<term>_<a>_to_<b>`` and ``<term>_<b>_to_<a>``, so that the effect on each member's
    exports is estimated rather than imposed to be equal: with a bilateral deficit, one
    coefficient for both directions fixes the sign of the balance effect.
    """
    a, b = members
    a_to_b = (data["exporter"] == a) & (data["importer"] == b)
    b_to_a = (data["exporter"] == b) & (data["importer"] == a)
    out, new_terms = data.copy(), []
    for t in terms:
        if t == name or t.startswith(f"{name}_lag") or t.startswith(f"{name}_lead"):
            for label, mask in ((f"{t}_{a}_to_{b}", a_to_b), (f"{t}_{b}_to_{a}", b_to_a)):
                out[label] = out[t].where(mask, 0.0)
                new_terms.append(label)
            out = out.drop(columns=t)
        else:
            new_terms.append(t)
    return out, new_terms


def add_agreement_id_terms(panel: pd.DataFrame, column: str = "agreement_id", ids=None,
                           labels: dict | None = None, exclude: pd.Series | None = None,
                           other: str | None = "other_agreements",
                           within_pair: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """One term per agreement: heterogeneous agreement effects.

    ``fta_<id>`` (or ``labels[id]``): 1 for the flows of every pair in force under agreement
    ``id`` of ``column`` (0 = none); ``ids``: the agreements given their own term (default:
    every id of the panel); ``other``: one pooled term for every other agreement (omitted
    when ``None`` or when every agreement has its own term); ``exclude``: a 0/1 series of
    rows left out of every term here (e.g. the members' flows that
    :func:`add_agreement_terms` already gives the study's own term). With pair effects
    (``within_pair``), an agreement whose term is constant within each of its pairs over the
    panel's years (in force throughout) is absorbed by them: it is left out and listed in
    ``attrs["dropped_terms"]``. ``attrs["agreement names"]`` maps terms to agreement ids.

    References
    ----------
    Baier, S. L., Yotov, Y. V. and Zylkin, T. (2019). On the widely differing effects of free
        trade agreements: lessons from twenty years of trade integration. Journal of
        International Economics 116, 206-226.
    """
    if column not in panel:
        raise DataError("gravity panel", column, "no agreement id column")
    labels = dict(labels or {})
    out = panel.copy()
    agreement = out[column].fillna(0).astype(int)
    if exclude is not None:
        agreement = agreement.where(~(exclude.reindex(out.index).fillna(0) > 0), 0)
    all_ids = sorted(i for i in agreement.unique() if i > 0)
    own = all_ids if ids is None else [int(i) for i in ids]
    absent = [i for i in own if i not in all_ids]
    if absent:
        raise GravityError(f"agreement id(s) {absent} not in force in the panel's rows")
    # an agreement's term varies within a pair when the pair has rows both in and out of it
    pair = pair_ids(out, "directional")
    rows_in = agreement.groupby([pair, agreement]).size()
    rows_of_pair = pair.value_counts()
    partial = rows_in.to_numpy() < rows_of_pair.reindex(rows_in.index.get_level_values(0)).to_numpy()
    varying = set(rows_in.index.get_level_values(1)[partial])
    terms, dropped, names = [], [], {}
    for i in own:
        name = labels.get(i, f"fta_{i}")
        if within_pair and i not in varying:
            dropped.append(name)
            continue
        out[name] = (agreement == i).astype(float)
        terms.append(name)
        names[name] = i
    rest = (agreement > 0) & ~agreement.isin(own)
    if other and rest.any():
        out[other] = rest.astype(float)
        terms.append(other)
    out.attrs["dropped_terms"] = dropped
    out.attrs["agreement names"] = names
    return out, terms


def panel_periods(panel: pd.DataFrame) -> tuple[list[int], str]:
    """The panel's years in order and its frequency: ``"annual"`` when they are consecutive,
    else ``"waves"`` (e.g. every 4 or 5 years), the unit of :func:`add_phase_in_terms`."""
    years = sorted(int(y) for y in panel["year"].unique())
    annual = len(years) < 2 or all(b - a == 1 for a, b in zip(years, years[1:], strict=False))
    return years, "annual" if annual else "waves"


def add_phase_in_terms(panel: pd.DataFrame, members: tuple[str, str], entry_year: int, name: str = "agreement",
                       lags: int = 0, leads: int = 0, pair_effects: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Phase-in lags and leads of an agreement at the panel's own frequency.

    Periods are the panel's years (:func:`panel_periods`): years in an annual panel, waves
    in a panel observed every 4-5 years. With ``k`` the first period at or after
    ``entry_year``, ``<name>`` is 1 for flows between the members from period ``k`` on;
    ``<name>_lag<L><u>`` from period ``k + L`` on (the effect after L periods is the sum of
    the terms); ``<name>_lead<L><u>`` is 1 in period ``k - L`` only (a lead: trade between
    the members moved L periods before entry); ``u`` is ``y`` (years) or ``w`` (waves).
    A lag beyond the last period, a lead before the first, and - with pair effects - leads
    that would leave no earlier period as the reference (all pre-periods covered: collinear
    with the pair effect) are left out and listed in ``attrs["dropped_terms"]``.
    ``attrs["lead_terms"]`` lists the leads (for :func:`wald_test`) and ``attrs["frequency"]``
    the unit.

    References
    ----------
    Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
        Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD (ch. 1, phase-in
        and the leads of agreements; Baier and Bergstrand 2007).
    """
    if entry_year is None:
        raise GravityError("no year of the panel is at or after the entry into force")
    years, frequency = panel_periods(panel)
    later = [i for i, y in enumerate(years) if y >= entry_year]
    if not later:
        raise GravityError(f"no year of the panel is at or after the entry year {entry_year}")
    k = later[0]
    a, b = members
    pair = ((panel["exporter"] == a) & (panel["importer"] == b)) | ((panel["exporter"] == b) & (panel["importer"] == a))
    if not pair.any():
        raise GravityError(f"no flows between {a} and {b} in the panel")
    unit = "y" if frequency == "annual" else "w"
    out = panel.copy()
    out[name] = (pair & (out["year"] >= years[k])).astype(float)
    terms, leads_kept, dropped = [name], [], []
    for lag in range(1, lags + 1):
        col = f"{name}_lag{lag}{unit}"
        if k + lag >= len(years):
            dropped.append(col)
            continue
        out[col] = (pair & (out["year"] >= years[k + lag])).astype(float)
        terms.append(col)
    member_years = set(out.loc[pair, "year"])
    for lead in range(1, leads + 1):
        col = f"{name}_lead{lead}{unit}"
        earlier = [y for y in years[:k] if y in member_years]
        if k - lead < 0 or years[k - lead] not in member_years or (pair_effects and len(earlier) <= lead):
            dropped.append(col)
            continue
        out[col] = (pair & (out["year"] == years[k - lead])).astype(float)
        terms.append(col)
        leads_kept.append(col)
    if pair_effects and out.loc[pair, name].nunique() < 2:
        raise GravityError(f"the agreement's term is constant for {a}-{b} over the panel's years "
                           f"({years[0]}-{years[-1]}): the pair effect absorbs it")
    out.attrs.update({"dropped_terms": dropped, "lead_terms": leads_kept, "frequency": frequency,
                      "entry period": years[k]})
    return out, terms


def add_border_terms(panel: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``border_<year>``: international flows in that year (the first year left out), which
    absorbs common globalisation trends when domestic flows are present (Bergstrand, Larch and
    Yotov 2015).

    References
    ----------
    Bergstrand, J. H., Larch, M. and Yotov, Y. V. (2015). Economic integration agreements,
        border effects, and distance elasticities in the gravity equation. European Economic
        Review 78, 307-327.
    """
    intl = panel["exporter"] != panel["importer"]
    if intl.all():
        raise GravityError("border-by-year terms need domestic flows (exporter == importer)")
    out, terms = panel.copy(), []
    for y in sorted(out["year"].unique())[1:]:
        out[f"border_{y}"] = (intl & (out["year"] == y)).astype(float)
        terms.append(f"border_{y}")
    return out, terms


@dataclass
class GravityResult:
    """A fitted gravity model.

    ``table``: ``term, estimate, se, ci_low, ci_high, pct_effect`` (pct: 100 (e^b - 1)).
    ``info``: observations, pairs with only zeros and their rows (dropped), rows dropped by the
    estimator (separation, singletons), the levels of each fixed effect, pseudo-R2,
    specification, clustering and convention. ``tests``: joint Wald tests run on the fit
    (e.g. ``"leads"``, see :func:`wald_test`). ``effect_columns``: the formula column of each
    fixed-effect dimension (label -> column), for :func:`estimated_fixed_effects`.
    """

    table: pd.DataFrame
    info: dict
    vcov: pd.DataFrame = field(repr=False)
    fit: object = field(repr=False, default=None)
    tests: dict = field(default_factory=dict)
    effect_columns: dict = field(repr=False, default_factory=dict)
    effect_levels: dict = field(repr=False, default_factory=dict)


#: Identifiers that fixed effects and clusters may name besides the panel's own columns:
#: ``pair`` (directional exporter-importer, or ``pair_column`` when given), ``pair_sym``
#: (the unordered pair) and ``pair_sym_dom`` (the unordered pair, every intra-national flow
#: sharing one id), see :func:`pair_ids`.
PAIR_IDS = {"pair": "directional", "pair_sym": "symmetric", "pair_sym_dom": "symmetric, shared domestic"}

#: Named fixed-effect structures of :func:`ppml` (the general form is a list of dimensions).
FIXED_EFFECT_PRESETS = {
    "three-way": (("exporter", "year"), ("importer", "year"), "pair"),
    "two-way": (("exporter", "year"), ("importer", "year")),
    # product panels (a ``product`` column): exporter-product-year, importer-product-year, pair-product
    "four-way": (("exporter", "product", "year"), ("importer", "product", "year"), ("pair", "product")),
}


def _dimensions(spec, what: str) -> list[tuple[str, ...]]:
    """A fixed-effect or cluster specification as a list of dimensions, each a tuple of names:
    a string is one dimension; a list or tuple holds dimensions, each a name or a tuple of names
    (their interaction)."""
    if isinstance(spec, str):
        return [(spec,)]
    try:
        items = list(spec)
    except TypeError:
        raise GravityError(f"{what} {spec!r}: give a name, or a list of names and tuples of names") from None
    dims = []
    for item in items:
        dim = (item,) if isinstance(item, str) else tuple(item)
        if not dim or not all(isinstance(p, str) for p in dim):
            raise GravityError(f"{what}: dimension {item!r} is not a name or a tuple of names")
        dims.append(dim)
    return dims


def _label(dim: tuple[str, ...]) -> str:
    return "-".join(dim)


def _is_pair_dimension(dim: tuple[str, ...]) -> bool:
    """Whether a dimension varies by pair (it holds a pair id, or both exporter and importer)."""
    return any(p in PAIR_IDS for p in dim) or {"exporter", "importer"} <= set(dim)


def _id_column(panel: pd.DataFrame, dim: tuple[str, ...], pair_column: str | None) -> pd.Series:
    """The ids of one dimension (the interaction of its parts), as strings."""
    parts = []
    for name in dim:
        if name == "pair" and pair_column:
            if pair_column not in panel:
                raise DataError("gravity panel", pair_column, "pair_column is not a column of the panel")
            parts.append(panel[pair_column].astype(str))
        elif name in panel:
            parts.append(panel[name].astype(str))
        elif name in PAIR_IDS:
            parts.append(pair_ids(panel, PAIR_IDS[name]).astype(str))
        else:
            raise GravityError(f"fixed effect or cluster {_label(dim)!r}: {name!r} is neither a column of the panel "
                               f"nor one of {list(PAIR_IDS)}")
    out = parts[0]
    for p in parts[1:]:
        out = out + "|" + p
    return out


def ppml(panel: pd.DataFrame, flow: str, terms: list[str], fixed_effects="three-way",
         covariates: list[str] | None = None, ssc: str = "stata", level: float = 0.95,
         pair_column: str | None = None, errors: str = "cluster", cluster_column=None,
         keys: tuple[str, ...] | None = None, weights: str | None = None, tol: float = 1e-10) -> GravityResult:
    """Gravity by Poisson pseudo-maximum likelihood with high-dimensional fixed effects.

    Parameters
    ----------
    panel : DataFrame
        ``exporter, importer, year, <flow>`` and the term columns.
    flow : str
        The trade flow (levels; zeros allowed).
    terms : list of str
        Policy terms (see :func:`add_agreement_terms`, :func:`add_agreement_id_terms`,
        :func:`add_phase_in_terms`).
    fixed_effects : str or list
        A preset of :data:`FIXED_EFFECT_PRESETS` (``"three-way"``: exporter-year,
        importer-year and pair; ``"two-way"``: exporter-year and importer-year;
        ``"four-way"``: exporter-product-year, importer-product-year and pair-product), or
        any list of dimensions, each a column name, a name of :data:`PAIR_IDS`, or a tuple of
        them (their interaction), e.g.
        ``[("exporter", "year"), ("importer", "year"), "pair_sym_dom"]``.
    covariates : list of str, optional
        Further regressors (e.g. log distance, contiguity, language, colony with two-way
        effects).
    ssc : {"stata", "fixest"}
        Small-sample convention of the errors (:data:`SSC_CONVENTIONS`); with two cluster
        dimensions every part of ``V1 + V2 - V12`` takes ``G/(G-1)`` of the smaller G.
    pair_column : str, optional
        Column that the name ``pair`` stands for (default: the directional exporter-importer
        pair); e.g. a symmetric pair id with every intra-national flow given one shared id as
        in Yotov, Piermartini, Monteiro and Larch (2016, ch. 2).
    errors : {"cluster", "hetero"}
        Errors clustered by ``cluster_column``, or heteroskedasticity-robust ("semi-robust"
        in Stata's ``ppml``).
    cluster_column : str or list, optional
        One cluster dimension (a name, as for ``fixed_effects``) or a list of one or two
        (two-way clustering, Cameron, Gelbach and Miller 2011), e.g.
        ``["exporter", "importer"]``. Default: the pair of the fixed effects (``pair`` if
        none).
    keys : tuple of str, optional
        Columns that identify one observation (default ``exporter, importer, year``, plus
        ``product`` when a fixed effect uses it).
    weights : str, optional
        Column of observation weights (e.g. how often a pair was drawn in a bootstrap: the
        same estimates as the duplicated rows).
    tol : float
        Convergence tolerance of the IWLS iterations and of the fixed-effect demeaning.

    Returns
    -------
    GravityResult

    Notes
    -----
    Observations of a pair (any pair dimension of the fixed effects) whose flows are all
    zero carry no information and are dropped before the fit; ``info`` counts those pairs
    and their rows separately. pyfixest then drops what separation and singletons leave
    unidentified (``dropped by the estimator``).

    References
    ----------
    Santos Silva, J. M. C. and Tenreyro, S. (2006). The log of gravity. Review of Economics
        and Statistics 88(4), 641-658.
    Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
        Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD.
    Correia, S., Guimaraes, P. and Zylkin, T. (2020). Fast Poisson estimation with
        high-dimensional fixed effects. Stata Journal 20(1), 95-115.
    Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2011). Robust inference with multiway
        clustering. Journal of Business & Economic Statistics 29(2), 238-249.

    Examples
    --------
    >>> from korus_research import gravity, io  # doctest: +SKIP
    >>> dta = io.read_table("gravity_dta")  # doctest: +SKIP
    >>> data, terms = gravity.add_agreement_terms(dta, ("KOR", "USA"), 2012, "korus",
    ...                                           other=dta["agreement_id"], lead=4)  # doctest: +SKIP
    >>> gravity.ppml(data, "trade_usd", terms).table  # doctest: +SKIP
    >>> gravity.ppml(data, "trade_usd", terms, fixed_effects=[("exporter", "year"), ("importer", "year"),
    ...              "pair_sym"], cluster_column=["exporter", "importer"])  # doctest: +SKIP
    """
    import pyfixest as pf

    preset = fixed_effects if isinstance(fixed_effects, str) else None
    if preset is not None:
        if preset not in FIXED_EFFECT_PRESETS:
            raise GravityError(f"fixed_effects {preset!r}: choose one of {list(FIXED_EFFECT_PRESETS)}, "
                               "or give a list of dimensions")
        dims = _dimensions(FIXED_EFFECT_PRESETS[preset], "fixed_effects")
    else:
        dims = _dimensions(fixed_effects, "fixed_effects")
    if keys is None:
        keys = ("exporter", "importer", "year") + (("product",) if any("product" in d for d in dims) else ())
    validate_panel(panel, flow, keys=tuple(keys))
    if ssc not in SSC_CONVENTIONS:
        raise GravityError(f"ssc {ssc!r}: choose one of {list(SSC_CONVENTIONS)}")
    if errors not in ("cluster", "hetero"):
        raise GravityError(f"errors {errors!r}: choose 'cluster' or 'hetero'")
    rhs = list(terms) + [c for c in (covariates or []) if c not in terms]
    if not rhs:
        raise GravityError("no terms or covariates to estimate")
    missing = [t for t in rhs if t not in panel]
    if missing:
        raise DataError("gravity panel", missing[0], f"term(s) {missing} not in the panel")

    if weights is not None and (weights not in panel or (panel[weights] < 0).any() or panel[weights].isna().any()):
        raise DataError("gravity panel", str(weights), "weights must be a column of non-negative numbers")
    data = panel[[c for c in dict.fromkeys(list(keys) + [flow] + rhs + ([weights] if weights else [])) if c in panel]].copy()
    effect_columns = {}
    for i, dim in enumerate(dims):
        data[f"fe{i}"] = _id_column(panel, dim, pair_column)
        effect_columns[_label(dim)] = f"fe{i}"
    if errors == "cluster":
        if cluster_column is None:
            pair_dims = [d for d in dims if len(d) == 1 and d[0] in PAIR_IDS]
            cluster_dims = [pair_dims[0] if pair_dims else ("pair",)]
        else:
            cluster_dims = _dimensions(cluster_column, "cluster_column")
        if len(cluster_dims) > 2:
            raise GravityError(f"cluster_column: {len(cluster_dims)} dimensions; pyfixest clusters by one or two")
        for i, dim in enumerate(cluster_dims):
            data[f"cl{i}"] = _id_column(panel, dim, pair_column)
        vcov = {"CRV1": "+".join(f"cl{i}" for i in range(len(cluster_dims)))}
    else:
        cluster_dims = []
        vcov = "hetero"

    # a pair whose flows are all zero carries no information under pair effects: counted, then dropped
    zero = pd.Series(False, index=data.index)
    zero_pairs = 0
    for i, dim in enumerate(dims):
        if _is_pair_dimension(dim):
            all_zero = data.groupby(f"fe{i}")[flow].transform("sum") == 0
            if not zero.any() and all_zero.any():
                zero_pairs = int(data.loc[all_zero, f"fe{i}"].nunique())
            zero |= all_zero
    used = data[~zero]
    fe_part = f" | {' + '.join(effect_columns.values())}" if dims else ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pf.fepois(f"{flow} ~ {' + '.join(rhs)}{fe_part}", data=used, vcov=vcov, weights=weights,
                        ssc=pf.ssc(**SSC_CONVENTIONS[ssc]), iwls_maxiter=100, iwls_tol=tol,
                        demeaner=pf.MapDemeaner(fixef_tol=tol))
        coef, se = fit.coef(), fit.se()
    z = stats.norm.ppf(0.5 + level / 2)
    table = pd.DataFrame({"estimate": coef, "se": se})
    table["ci_low"] = table["estimate"] - z * table["se"]
    table["ci_high"] = table["estimate"] + z * table["se"]
    table["pct_effect"] = np.expm1(table["estimate"]) * 100
    table.index.name = "term"
    # pyfixest 0.60 has no public count of observations: the residuals are one per observation used
    residuals = np.asarray(fit.resid())
    n_fit = len(residuals)
    fitted = np.asarray(fit.predict(type="response"))
    info = {
        "observations": len(data), "pairs with only zeros (dropped)": zero_pairs,
        "rows of pairs with only zeros (dropped)": int(zero.sum()),
        "dropped by the estimator (separation, singletons)": len(used) - n_fit, "used": n_fit,
        **{f"{label} effects": int(used[col].nunique()) for label, col in effect_columns.items()},
        "pseudo_r2": float(np.corrcoef(fitted + residuals, fitted)[0, 1] ** 2),
        "fixed_effects": preset or " + ".join(effect_columns), "ssc": ssc,
        "clusters": (", ".join(f"{_label(d)}: {used[f'cl{i}'].nunique()}" for i, d in enumerate(cluster_dims))
                     if cluster_dims else "none (heteroskedasticity-robust)"),
        "terms dropped as collinear": ", ".join(t for t in rhs if t not in coef.index) or "none",
        # two-way clustering's V1 + V2 - V12 need not be positive semi-definite (Cameron, Gelbach and
        # Miller 2011): a negative variance is reported, its standard error left missing
        "terms with a negative variance": ", ".join(se.index[se.isna()]) or "none",
        "warnings": "; ".join(sorted({str(w.message)[:120] for w in caught})),
    }
    # pyfixest 0.60 gives no public accessor for the coefficients' covariance matrix (the delta
    # method of pe_counterfactual and the joint tests need it): the one private attribute used
    vcov_matrix = pd.DataFrame(fit._vcov, index=coef.index, columns=coef.index)
    levels = {label: np.sort(used[col].unique()) for label, col in effect_columns.items()}
    return GravityResult(table.reset_index(), info, vcov_matrix, fit, effect_columns=effect_columns,
                         effect_levels=levels)


def wald_test(result: GravityResult, terms: list[str]) -> dict:
    """Joint Wald test that the coefficients of ``terms`` are all zero (chi-squared, with the
    fit's own covariance), by pyfixest's public ``wald_test``.

    Returns ``{"terms", "statistic", "df", "p_value"}``; terms absent from the fit
    (left out as collinear) are listed in ``"not estimated"``.

    References
    ----------
    Wald, A. (1943). Tests of statistical hypotheses concerning several parameters when the
        number of observations is large. Transactions of the American Mathematical Society
        54(3), 426-482.
    """
    names = list(result.table["term"])
    present = [t for t in terms if t in names]
    if not present:
        raise GravityError(f"none of the terms {terms} was estimated")
    R = np.zeros((len(present), len(names)))
    for row, t in enumerate(present):
        R[row, names.index(t)] = 1.0
    out = result.fit.wald_test(R=R, distribution="chi2")
    return {"terms": present, "statistic": float(out["statistic"]), "df": len(present),
            "p_value": float(out["pvalue"]), "not estimated": [t for t in terms if t not in names]}


def estimated_fixed_effects(result: GravityResult, dimension: str, tol: float = 1e-12) -> pd.Series:
    """The estimated fixed effects of one dimension (its label, e.g. ``"pair"`` or
    ``"exporter-year"``), by pyfixest's public ``fixef``; the reference level left out by
    the dummy coding is 0. Only differences within a dimension are identified (up to the
    model's normalisation): e.g. pair effects relative to the shared domestic effect, as in
    the two-stage trade-cost recovery of Anderson and Yotov (2016) and Yotov et al. (2016,
    ch. 2).

    References
    ----------
    Anderson, J. E. and Yotov, Y. V. (2016). Terms of trade and global efficiency effects of
        free trade agreements, 1990-2002. Journal of International Economics 99, 279-298.
    """
    if dimension not in result.effect_columns:
        raise GravityError(f"fixed effect {dimension!r}: the model has {list(result.effect_columns)}")
    column = result.effect_columns[dimension]
    estimates = pd.Series(result.fit.fixef(atol=tol, btol=tol)[f"C({column})"], dtype=float)
    out = estimates.reindex(result.effect_levels[dimension])
    # the dummy coding leaves out the first level of every dimension but the first: that one is 0;
    # a level missing otherwise was dropped by the estimator (NaN)
    missing = out.index[out.isna()]
    if list(result.effect_columns).index(dimension) > 0 and len(missing) and missing[0] < estimates.index.min():
        out[missing[0]] = 0.0
    return out.rename(dimension)


PAIR_KINDS = ("directional", "symmetric", "symmetric, shared domestic")


def pair_ids(panel: pd.DataFrame, kind: str = "directional") -> pd.Series:
    """Pair identifiers for pair fixed effects or clustering.

    ``directional``: exporter-importer (i->j differs from j->i); ``symmetric``: the unordered
    pair; ``symmetric, shared domestic``: the unordered pair, with every intra-national flow
    (i == j) sharing one id, as in Yotov et al. (2016, ch. 2), where the pair effects of
    domestic flows are not separately identified from the country-year effects.
    """
    if kind not in PAIR_KINDS:
        raise GravityError(f"pair kind {kind!r}: choose one of {list(PAIR_KINDS)}")
    if kind == "directional":
        return (panel["exporter"] + "_" + panel["importer"]).rename("pair")
    a, b = panel["exporter"].astype(str), panel["importer"].astype(str)
    first = a.where(a <= b, b)
    ids = (first + "_" + b.where(a <= b, a)).rename("pair")
    if kind == "symmetric, shared domestic":
        ids = ids.where(panel["exporter"] != panel["importer"], "domestic")
    return ids


def pe_counterfactual(panel: pd.DataFrame, flow: str, result: GravityResult, members: tuple[str, str],
                      terms: list[str], years: list[int], unit: float = 1.0, level: float = 0.95) -> pd.DataFrame:
    """Partial-equilibrium effect of switching ``terms`` off on the flows between ``members``.

    For each year the counterfactual flow is ``actual x exp(-sum of active terms' b)``; the
    effect is the actual minus the counterfactual. The balance is that of ``members[0]``
    (exports to minus imports from ``members[1]``); its interval is by the delta method with
    the estimated covariance of the coefficients. ``unit`` divides the flows (e.g. 1e9 for
    US$ bn from US$). Years in which the panel lacks the flows in either direction are
    left out and listed in ``attrs["years without flows"]``.
    """
    a, b = members
    beta = result.table.set_index("term")["estimate"]
    z = stats.norm.ppf(0.5 + level / 2)
    rows, missing = [], []
    for year in years:
        sub = panel[panel["year"] == year]
        x_ab = sub.loc[(sub["exporter"] == a) & (sub["importer"] == b), flow]
        x_ba = sub.loc[(sub["exporter"] == b) & (sub["importer"] == a), flow]
        if x_ab.empty or x_ba.empty:
            missing.append(int(year))
            continue
        # the terms active on each direction's flow (the same ones unless split by direction)
        on_ab = [t for t in terms if sub.loc[x_ab.index, t].iloc[0] > 0]
        on_ba = [t for t in terms if sub.loc[x_ba.index, t].iloc[0] > 0]
        idx = list(beta.index)
        g_ab, g_ba = np.zeros(len(beta)), np.zeros(len(beta))
        for t in on_ab:
            g_ab[idx.index(t)] = 1.0
        for t in on_ba:
            g_ba[idx.index(t)] = 1.0
        total_ab = float(beta[on_ab].sum()) if on_ab else 0.0
        total_ba = float(beta[on_ba].sum()) if on_ba else 0.0
        exp_ab, exp_ba = float(x_ab.iloc[0]) / unit, float(x_ba.iloc[0]) / unit
        exports_effect = exp_ab * (1 - np.exp(-total_ab))
        imports_effect = exp_ba * (1 - np.exp(-total_ba))
        bal_effect = exports_effect - imports_effect
        # delta method: d(balance)/d(beta) = exp_ab exp(-total_ab) g_ab - exp_ba exp(-total_ba) g_ba
        grad = exp_ab * np.exp(-total_ab) * g_ab - exp_ba * np.exp(-total_ba) * g_ba
        vcov = result.vcov.to_numpy()
        se_bal = float(np.sqrt(grad @ vcov @ grad))
        se_total = float(np.sqrt(g_ab @ vcov @ g_ab))
        on = list(dict.fromkeys(on_ab + on_ba))
        rows.append({
            "year": year, "active terms": ", ".join(on) or "none", "effect (log points)": total_ab,
            f"{a} exports to {b}, actual": exp_ab, f"{a} exports to {b}, without": exp_ab * np.exp(-total_ab),
            f"{a} imports from {b}, actual": exp_ba, f"{a} imports from {b}, without": exp_ba * np.exp(-total_ba),
            "balance effect": bal_effect, "balance effect ci_low": bal_effect - z * se_bal,
            "balance effect ci_high": bal_effect + z * se_bal,
            "exports effect": exports_effect, "imports effect": imports_effect,
            "log effect se": se_total,
        })
    if not rows:
        raise GravityError(f"no {a}-{b} flows in both directions in any of the years {years}")
    out = pd.DataFrame(rows).set_index("year")
    out.attrs["years without flows"] = missing
    return out


# ---------------------------------------------------------------- general equilibrium ---


@dataclass
class GEResult:
    """General-equilibrium counterfactual (exact hat algebra): new flows, price changes,
    real income changes, and the largest market-clearing error."""

    flows: pd.DataFrame
    price_change: pd.Series
    price_index_change: pd.Series
    real_income_change: pd.Series
    max_clearing_error: float
    iterations: int


def ge_counterfactual(flows: pd.DataFrame, tau: pd.DataFrame, sigma: float = 7.0, tol: float = 1e-12,
                      max_iter: int = 100000) -> GEResult:
    """Full-endowment general-equilibrium counterfactual of a structural gravity model.

    Parameters
    ----------
    flows : DataFrame
        Baseline flows, exporters (rows) x importers (columns), domestic flows on the
        diagonal (same country order in both).
    tau : DataFrame
        Change in bilateral trade costs as a factor on ``t_ij^(1-sigma)``, e.g.
        ``exp(-b)`` for the member pairs when an agreement with coefficient ``b`` is
        removed, 1 elsewhere.
    sigma : float
        Elasticity of substitution (7 in Yotov et al. 2016).

    Returns
    -------
    GEResult
        ``price_change`` (factory-gate prices, world output held constant),
        ``price_index_change`` (inward multilateral resistance), ``real_income_change``
        (``p_hat / P_hat``), the new flows, and the largest relative market-clearing error.

    Notes
    -----
    With import shares ``pi_ij = X_ij / E_j``, output ``Y_i`` and expenditure
    ``E_j = Y_j + D_j`` (trade deficits ``D`` held fixed in units of world output, so that
    world expenditure equals world output), the equilibrium price changes solve
    ``p_i Y_i = sum_j pi'_ij (p_j Y_j + D_j)`` with
    ``pi'_ij = pi_ij tau_ij p_i^(1-sigma) / sum_k pi_kj tau_kj p_k^(1-sigma)``
    (Dekle, Eaton and Kortum 2007; Yotov et al. 2016, ch. 2). Solved by the fixed-point
    update ``p <- p (demand / supply)^(1/sigma)`` (demand for a country's goods falls with
    ``p^-sigma``), world output as numeraire; ``tau = 1`` returns the baseline exactly.
    """
    x = flows.to_numpy(dtype=float)
    t = tau.reindex(index=flows.index, columns=flows.columns).to_numpy(dtype=float)
    if x.shape[0] != x.shape[1] or list(flows.index) != list(flows.columns):
        raise GravityError("flows must be a square exporter x importer matrix with the same order")
    if np.isnan(t).any() or (t <= 0).any():
        raise GravityError("tau must be positive for every pair")
    y = x.sum(axis=1)
    e = x.sum(axis=0)
    pi = x / e[None, :]
    deficit = e - y
    p = np.ones(len(y))
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        weights = pi * t * (p ** (1 - sigma))[:, None]
        pi_new = weights / weights.sum(axis=0, keepdims=True)
        demand = pi_new @ (p * y + deficit)
        excess = demand / (p * y) - 1
        if np.max(np.abs(excess)) < tol:
            break
        p = p * (1 + excess) ** (1 / sigma)
        p = p * y.sum() / (p * y).sum()  # numeraire: world output
    weights = pi * t * (p ** (1 - sigma))[:, None]
    index = weights.sum(axis=0) ** (1 / (1 - sigma))
    pi_new = weights / weights.sum(axis=0, keepdims=True)
    e_new = p * y + deficit
    new_flows = pi_new * e_new[None, :]
    clearing = np.max(np.abs(new_flows.sum(axis=1) / (p * y) - 1))
    names = flows.index
    return GEResult(pd.DataFrame(new_flows, index=names, columns=flows.columns), pd.Series(p, index=names),
                    pd.Series(index, index=names), pd.Series(p / index, index=names), float(clearing), iterations)


@dataclass
class GEImbalanceResult:
    """A counterfactual of the one-sector Armington-CES model with trade imbalances.

    ``flows``: new flows (exporter x importer); ``wage``: nominal wage (factory-gate price)
    changes, world output held constant; ``price_index``: inward price index changes;
    ``real_wage``: ``wage / price_index``; ``welfare``: real expenditure change
    (``E'/E / price_index``, equal to the real wage under multiplicative imbalances).
    """

    flows: pd.DataFrame
    wage: pd.Series
    price_index: pd.Series
    real_wage: pd.Series
    welfare: pd.Series
    max_clearing_error: float
    iterations: int


def ge_with_imbalances(flows: pd.DataFrame, beta: pd.DataFrame, theta: float = 4.0,
                       imbalances: str = "additive", tol: float = 1e-13, max_iter: int = 100000) -> GEImbalanceResult:
    """General-equilibrium effects of a change in trade costs with trade imbalances, additive
    (``E_j = Y_j + D_j`` with the deficit ``D_j`` fixed) or multiplicative (``E_j = delta_j Y_j``).

    Parameters
    ----------
    flows : DataFrame
        Baseline flows, exporters (rows) x importers (columns), domestic flows on the
        diagonal (same country order in both).
    beta : DataFrame
        Partial (log) changes in trade, e.g. an agreement's coefficient for the pairs whose
        agreement changes; the diagonal is ignored.
    theta : float
        Trade elasticity.
    imbalances : {"additive", "multiplicative"}

    Notes
    -----
    With ``pi_ij = X_ij / E_j`` and ``B_ij = exp(beta_ij)``, the changes in wages ``w`` and
    price indexes ``P`` solve market clearing ``w_i Y_i = sum_j pi'_ij E'_j`` with
    ``pi'_ij = pi_ij B_ij w_i^-theta / P_j`` and ``P_j = sum_k pi_kj B_kj w_k^-theta``
    (Dekle, Eaton and Kortum 2007; Yotov et al. 2016, ch. 2), world output held constant.
    Solved by the fixed point ``w_i^(1+theta) = sum_j pi_ij B_ij E'_j / P_j / Y_i``. The
    price index change is ``P^(-1/theta)``.

    References
    ----------
    Dekle, R., Eaton, J. and Kortum, S. (2007). Unbalanced trade. American Economic Review
        97(2), 351-355.
    Anderson, J. E. and Yotov, Y. V. (2016). Terms of trade and global efficiency effects of
        free trade agreements, 1990-2002. Journal of International Economics 99, 279-298.
    Zylkin, T. (2019). GE_GRAVITY: Stata module to solve a simple general equilibrium
        one-sector trade model. Statistical Software Components S458678 (checked against its
        published output in ``tests/test_gravity.py``).
    """
    if imbalances not in ("additive", "multiplicative"):
        raise GravityError(f"imbalances {imbalances!r}: choose 'additive' or 'multiplicative'")
    if list(flows.index) != list(flows.columns):
        raise GravityError("flows must be a square exporter x importer matrix with the same order")
    x = flows.to_numpy(dtype=float)
    if np.isnan(x).any() or (x < 0).any():
        raise GravityError("flows must be non-negative with no missing values")
    b = np.exp(np.nan_to_num(beta.reindex(index=flows.index, columns=flows.columns).to_numpy(dtype=float)))
    np.fill_diagonal(b, 1.0)
    y, e = x.sum(axis=1), x.sum(axis=0)
    deficit = e - y
    pi = x / e[None, :]
    w = np.ones(len(y))
    iterations = 0

    def solve_prices(w):
        p = (pi * b * (w ** -theta)[:, None]).sum(axis=0)
        e_new = y * w + deficit if imbalances == "additive" else e * w
        return p, e_new

    while iterations < max_iter:
        iterations += 1
        p, e_new = solve_prices(w)
        w_next = (((pi * b) @ (e_new / p)) / y) ** (1 / (1 + theta))
        w_next *= y.sum() / (y * w_next).sum()  # numeraire: world output
        if np.max(np.abs(w_next / w - 1)) < tol:
            w = w_next
            break
        w = w_next
    p, e_new = solve_prices(w)
    share = pi * b * (w ** -theta)[:, None] / p[None, :]
    new = share * e_new[None, :]
    clearing = float(np.max(np.abs(new.sum(axis=1) / (y * w) - 1)))
    price_index = p ** (-1 / theta)
    names = flows.index
    return GEImbalanceResult(pd.DataFrame(new, index=names, columns=flows.columns), pd.Series(w, index=names),
                             pd.Series(price_index, index=names), pd.Series(w / price_index, index=names),
                             pd.Series(e_new / e / price_index, index=names), clearing, iterations)


# ---------------------------------------------------------------- specifications --------


@dataclass(frozen=True)
class Specification:
    """One gravity specification of the study: a panel, its flow and unit, and the terms."""

    label: str
    table: str
    flow: str
    unit_to_bn: float  # divide the flow by this to get US$ billion
    other: str | None  # column marking other agreements
    lead: int | None
    lags: tuple[int, ...]
    border_by_year: bool
    fixed_effects: str = "three-way"
    directional: bool = False  # one agreement term per direction of trade (split_by_direction)


#: The specifications estimated by the gravity notebook (keys are its ``panels`` parameter).
SPECIFICATIONS = {
    "dta": Specification("DTA 1964-2016, three-way", "gravity_dta", "trade_usd", 1e9, "agreement_id", 4, (4,), False),
    "dta_twoway": Specification("DTA 1964-2016, two-way + CEPII", "gravity_dta", "trade_usd", 1e9, "agreement_id",
                                None, (), False, "two-way"),
    # the same three-way model with one agreement term per direction of trade: the sign of the
    # balance effect is estimated, not imposed by a common coefficient
    "dta_directional": Specification("DTA 1964-2016, three-way, directional", "gravity_dta", "trade_usd", 1e9,
                                     "agreement_id", 4, (4,), False, directional=True),
    # no lead: the panel starts in 2010, two years before entry, so a lead would be collinear
    # with the agreement term and the pair effect
    "oecd": Specification("OECD-Asia 2010-2019, three-way + border", "gravity_oecd", "trade_usd_th", 1e6, "rta",
                          None, (3,), True),
    "wiod": Specification("WIOD 2000-2014, three-way + border", "gravity_wiod", "trade_usd_mn", 1e3, "fta",
                          5, (), True),
}

TWO_WAY_COVARIATES = ["ln_dist", "contig", "comlang_off", "colony"]


def members_of_agreement(dta: pd.DataFrame, agreement_id: int) -> tuple[tuple[str, str], int]:
    """The two members and first year of a bilateral agreement id of the DTA panel."""
    rows = dta[dta["agreement_id"] == agreement_id]
    if rows.empty:
        raise GravityError(f"agreement id {agreement_id} is absent from the DTA panel")
    members = sorted(set(rows["exporter"]) | set(rows["importer"]))
    if len(members) != 2:
        raise GravityError(f"agreement id {agreement_id} has {len(members)} members; a bilateral agreement is needed")
    return (members[0], members[1]), int(rows["year"].min())


def agreement_of_pair(dta: pd.DataFrame, a: str, b: str) -> int:
    """The DTA agreement id in force between ``a`` and ``b`` that covers only them."""
    pair = dta[((dta["exporter"] == a) & (dta["importer"] == b)) | ((dta["exporter"] == b) & (dta["importer"] == a))]
    ids = [i for i in sorted(pair.loc[pair["agreement_id"] > 0, "agreement_id"].unique())
           if set(dta.loc[dta["agreement_id"] == i, "exporter"]) | set(dta.loc[dta["agreement_id"] == i, "importer"]) == {a, b}]
    if not ids:
        raise GravityError(f"no bilateral agreement between {a} and {b} in the DTA panel")
    return int(ids[-1])


def agreements_of_pair(dta: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Every DTA agreement id in force between ``a`` and ``b`` (bilateral or plurilateral),
    with its first year in the panel and its number of members."""
    pair = dta[(((dta["exporter"] == a) & (dta["importer"] == b)) | ((dta["exporter"] == b) & (dta["importer"] == a)))
               & (dta["agreement_id"] > 0)]
    rows = []
    for agreement_id, sub in pair.groupby("agreement_id"):
        all_rows = dta[dta["agreement_id"] == agreement_id]
        rows.append({"agreement_id": int(agreement_id), "first_year": int(sub["year"].min()),
                     "members": len(set(all_rows["exporter"]) | set(all_rows["importer"]))})
    return pd.DataFrame(rows, columns=["agreement_id", "first_year", "members"]).sort_values("first_year")


def has_pair(table: pd.DataFrame, a: str, b: str) -> bool:
    """Whether a panel holds flows between ``a`` and ``b``."""
    return bool(((table["exporter"] == a) & (table["importer"] == b)).any())


def with_cepii(panel: pd.DataFrame, dist: pd.DataFrame) -> pd.DataFrame:
    """Add log distance, contiguity, common official language and colony ties (CEPII);
    pairs without CEPII data are dropped and counted in ``attrs['no_cepii']``."""
    merged = panel.merge(dist, on=["exporter", "importer"], how="inner", suffixes=("", "_cepii"))
    merged = merged[merged["dist_km"] > 0]
    merged["ln_dist"] = np.log(merged["dist_km"])
    merged.attrs["no_cepii"] = len(panel) - len(merged)
    return merged


def estimate_specification(spec: Specification, table: pd.DataFrame, members: tuple[str, str],
                           entry_year: int, ssc: str = "stata", dist: pd.DataFrame | None = None,
                           name: str = "agreement") -> tuple[GravityResult, pd.DataFrame, list[str]]:
    """Build the terms of ``spec`` and fit it; returns the result, the data and the terms."""
    panel = table
    if spec.fixed_effects == "two-way":
        if dist is None:
            raise GravityError("the two-way specification needs the CEPII distances")
        panel = with_cepii(table[table["exporter"] != table["importer"]], dist)
    other = panel[spec.other] if spec.other else None
    data, terms = add_agreement_terms(panel, members, entry_year, name, other=other, lags=spec.lags,
                                      lead=spec.lead, border_by_year=spec.border_by_year,
                                      within_pair=spec.fixed_effects == "three-way")
    if spec.directional:
        data, terms = split_by_direction(data, terms, members, name)
    covariates = TWO_WAY_COVARIATES if spec.fixed_effects == "two-way" else None
    result = ppml(data, spec.flow, terms, spec.fixed_effects, covariates, ssc)
    return result, data, terms


def year_flows(panel: pd.DataFrame, flow: str, year: int) -> pd.DataFrame:
    """The ``year`` flows as a square exporter x importer matrix over the countries that both
    export and import (domestic flows on the diagonal); :class:`GravityError` when incomplete."""
    rows = panel[panel["year"] == year]
    flows = rows.pivot_table(index="exporter", columns="importer", values=flow, aggfunc="sum")
    countries = sorted(set(flows.index) & set(flows.columns))
    flows = flows.reindex(index=countries, columns=countries)
    if flows.isna().any().any():
        raise GravityError(f"the {year} flows are not a complete square matrix (domestic flows needed)")
    return flows


def ge_from_panel(panel: pd.DataFrame, flow: str, year: int, members: tuple[str, str], beta: float,
                  sigma: float = 7.0) -> tuple[GEResult, pd.DataFrame]:
    """GE counterfactual on one year of a panel with domestic flows: the agreement's effect
    ``beta`` removed between ``members`` (``tau = exp(-beta)`` both ways).

    Returns the result and a summary for the members: bilateral flows, total exports and
    real income (percentage changes).
    """
    flows = year_flows(panel, flow, year)
    countries = list(flows.index)
    a, b = members
    tau = pd.DataFrame(1.0, index=countries, columns=countries)
    tau.loc[a, b] = tau.loc[b, a] = np.exp(-beta)
    result = ge_counterfactual(flows, tau, sigma)
    rows = []
    for c in (a, b):
        other = b if c == a else a
        intl = [k for k in countries if k != c]
        rows.append({
            "country": c,
            "exports to the other member, % change": 100 * (result.flows.loc[c, other] / flows.loc[c, other] - 1),
            "total exports, % change": 100 * (result.flows.loc[c, intl].sum() / flows.loc[c, intl].sum() - 1),
            "real income, % change": 100 * (result.real_income_change[c] - 1),
            "factory-gate price, % change": 100 * (result.price_change[c] - 1),
        })
    return result, pd.DataFrame(rows).set_index("country")


# ---------------------------------------------------------------- the general interface ---


@dataclass(frozen=True)
class Model:
    """One gravity model of the general interface (:func:`ppml`): a panel, its flow and unit,
    any fixed effects and clustering, and the study's agreement terms.

    ``fixed_effects`` and ``cluster`` take what :func:`ppml` takes (``cluster=None``: the
    pair of the fixed effects). ``agreements``: ``"own"`` gives the study's agreement its
    term and pools every other agreement (``other``, a 0/1 or id column) into one;
    ``"by id"`` gives every agreement of the reporter in the ``agreement_id`` column its own
    term (``fta_<id>``; heterogeneous effects) besides the study's own and pools the rest.
    ``lags`` and ``leads`` count periods of the panel (years or waves,
    :func:`add_phase_in_terms`); ``directional``: the study's terms split by direction of
    trade (:func:`split_by_direction`).
    """

    label: str
    table: str
    flow: str
    unit_to_bn: float  # divide the flow by this to get US$ billion
    fixed_effects: object = "three-way"
    cluster: object = None
    errors: str = "cluster"
    agreements: str = "own"
    other: str | None = None
    lags: int = 0
    leads: int = 0
    border_by_year: bool = False
    directional: bool = False


#: Models of the general interface shown by the gravity notebook (its ``models`` parameter);
#: each is one that :data:`SPECIFICATIONS` cannot express.
MODELS = {
    # heterogeneous effects: every US agreement its own coefficient; the study's split by direction
    "dta_by_agreement": Model("DTA 1964-2016, one term per US agreement, directional, 1 lag and 2 leads (waves)",
                              "gravity_dta", "trade_usd", 1e9, agreements="by id", other="agreement_id",
                              lags=1, leads=2, directional=True),
    # annual panel: phase-in lags and a lead in years
    "oecd_annual": Model("OECD-Asia 2010-2019, directional, 3 lags and 1 lead (years) + border",
                         "gravity_oecd", "trade_usd_th", 1e6, other="rta", lags=3, leads=1, border_by_year=True,
                         directional=True),
    # symmetric pair effects with one shared intra-national effect, two-way clustered errors
    "wiod_symmetric": Model("WIOD 2000-2014, symmetric pair + shared domestic effect, clustered by exporter and "
                            "importer, directional, 1 lead (wave) + border", "gravity_wiod", "trade_usd_mn", 1e3,
                            fixed_effects=(("exporter", "year"), ("importer", "year"), "pair_sym_dom"),
                            cluster=("exporter", "importer"), other="fta", leads=1, border_by_year=True,
                            directional=True),
    # the GE bootstrap's model: three-way, directional, a lead (wave) + border
    "wiod_directional": Model("WIOD 2000-2014, three-way, directional, 1 lead (wave) + border", "gravity_wiod",
                              "trade_usd_mn", 1e3, other="fta", leads=1, border_by_year=True, directional=True),
}

#: Name of the study's own agreement term (before any split by direction).
OWN = "agreement"


def build_model_data(model: Model, table: pd.DataFrame, members: tuple[str, str], entry_year: int,
                     reporter: str = "USA") -> tuple[pd.DataFrame, list[str]]:
    """The panel with the terms of ``model``; ``attrs``: ``lead_terms``, ``switch_off`` (the
    study's agreement terms that a counterfactual removes: its own, lags, by direction),
    ``dropped_terms``, ``frequency`` and ``agreement names`` (``fta_<id>`` -> id)."""
    if model.agreements not in ("own", "by id"):
        raise GravityError(f"agreements {model.agreements!r}: choose 'own' or 'by id'")
    dims = (_dimensions(FIXED_EFFECT_PRESETS[model.fixed_effects], "fixed_effects")
            if isinstance(model.fixed_effects, str) else _dimensions(model.fixed_effects, "fixed_effects"))
    data, terms = add_phase_in_terms(table, members, entry_year, OWN, model.lags, model.leads,
                                     pair_effects=any(_is_pair_dimension(d) for d in dims))
    attrs = dict(data.attrs)
    names: dict = {}
    if model.agreements == "by id":
        column = model.other or "agreement_id"
        in_force = data[column].fillna(0).astype(int).where(data[OWN] == 0, 0)
        of_reporter = (data["exporter"] == reporter) | (data["importer"] == reporter)
        ids = sorted(int(i) for i in in_force[of_reporter & (in_force > 0)].unique())
        data, more = add_agreement_id_terms(data, column, ids, exclude=data[OWN])
        attrs["dropped_terms"] = attrs["dropped_terms"] + data.attrs["dropped_terms"]
        names = data.attrs["agreement names"]
        terms += more
    elif model.other:
        data["other_agreements"] = ((data[model.other].fillna(0) > 0) & ~(data[OWN] > 0)).astype(float)
        terms.append("other_agreements")
    if model.border_by_year:
        data, border = add_border_terms(data)
        terms += border
    if model.directional:
        data, terms = split_by_direction(data, terms, members, OWN)
    own = [t for t in terms if t == OWN or t.startswith(f"{OWN}_")]
    data.attrs = {**attrs, "agreement names": names, "lead_terms": [t for t in own if "_lead" in t],
                  "switch_off": [t for t in own if "_lead" not in t]}
    return data, terms


def estimate_model(model: Model, table: pd.DataFrame, members: tuple[str, str], entry_year: int,
                   reporter: str = "USA", ssc: str = "stata",
                   tol: float = 1e-8) -> tuple[GravityResult, pd.DataFrame, list[str]]:
    """Build the terms of ``model`` (:func:`build_model_data`) and fit it (:func:`ppml`, with
    convergence tolerance ``tol``); the joint test that the leads are zero is in
    ``result.tests["leads"]``.

    References
    ----------
    Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
        Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD.
    """
    data, terms = build_model_data(model, table, members, entry_year, reporter)
    result = ppml(data, model.flow, terms, model.fixed_effects, ssc=ssc, errors=model.errors,
                  cluster_column=model.cluster, tol=tol)
    if data.attrs["lead_terms"]:
        result.tests["leads"] = wald_test(result, data.attrs["lead_terms"])
    return result, data, terms


def estimate_models(keys: list[str], tables: dict, members: tuple[str, str], entry_in, reporter: str = "USA",
                    ssc: str = "stata", attempt=None) -> dict:
    """Fit the :data:`MODELS` named by ``keys`` on ``tables`` (table name -> panel);
    ``entry_in(table)`` gives the first year the agreement is in force in a panel (e.g.
    ``Study.entry_in``); ``attempt(section, func)`` runs each fit and returns ``None`` when
    the data cannot support it (e.g. ``Store.attempt``, which records why). Returns
    ``{key: (result, data, terms)}`` of the models that ran."""
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        raise GravityError(f"unknown model(s) {unknown}; valid: {', '.join(MODELS)}")
    attempt = attempt or (lambda section, func: func())
    fits = {}
    for key in keys:
        model = MODELS[key]
        fitted = attempt(f"gravity: {model.label}", lambda m=model: estimate_model(
            m, tables[m.table], members, entry_in(m.table), reporter, ssc))
        if fitted is not None:
            fits[key] = fitted
    return fits


def agreement_names(dta: pd.DataFrame) -> dict:
    """Agreement id -> name, from the DTA panel's ``agreement_id`` and ``agreement``."""
    named = dta[dta["agreement_id"] > 0]
    return named.groupby("agreement_id")["agreement"].first().to_dict()


def lead_diagnostics(result: GravityResult, alpha: float = 0.05) -> tuple[str, str]:
    """``("passed" | "failed" | "not tested", detail)`` of the joint test that the leads are
    zero (passed when its p-value is at least ``alpha``).

    References
    ----------
    MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different
        cluster sizes. Journal of Applied Econometrics 32(2), 233-254 (one treated cluster).
    """
    test = result.tests.get("leads")
    if not test:
        return "not tested", "no lead in the model (or none identified in the panel)"
    status = "passed" if test["p_value"] >= alpha else "failed"
    # a term of one pair clustered by pair rests on one cluster: the test then over-rejects
    # (MacKinnon and Webb 2017), which the detail says by naming the clusters
    return status, (f"joint Wald test that the {test['df']} lead(s) are zero: chi2 = {test['statistic']:.2f}, "
                    f"p = {test['p_value']:.3f} ({', '.join(test['terms'])}; errors clustered by "
                    f"{result.info.get('clusters', 'unknown')})")


def model_table(fits: dict, models: dict | None = None, names: dict | None = None) -> pd.DataFrame:
    """The agreement terms of fitted models (``{key: (result, data, terms)}``) side by side,
    by model key: the study's own terms and every ``fta_<id>`` term (named from ``names``:
    id -> name), with the lead test's p-value of each model."""
    models = models or MODELS
    names = names or {}
    parts = {}
    for key, (result, data, _) in fits.items():
        table = result.table.set_index("term")
        ids = data.attrs.get("agreement names", {})
        keep = [t for t in table.index if t == OWN or t.startswith(f"{OWN}_") or t in ids or t == "other_agreements"]
        part = table.loc[keep, ["estimate", "se", "ci_low", "ci_high"]].copy()
        part.insert(0, "agreement", [names.get(ids[t], f"id {ids[t]}") if t in ids else "" for t in keep])
        test = result.tests.get("leads")
        part["leads p-value"] = test["p_value"] if test else np.nan
        parts[key] = part
    return pd.concat(parts, names=["model", "term"]) if parts else pd.DataFrame()


def lead_tests(fits: dict, models: dict | None = None) -> pd.DataFrame:
    """The joint lead test of each fitted model (by key): the model, the panel's frequency,
    the leads, chi2, degrees of freedom, p-value, the diagnostics it gives
    (:func:`lead_diagnostics`) and the clusters."""
    models = models or MODELS
    rows = []
    for key, (result, data, _) in fits.items():
        test = result.tests.get("leads") or {}
        rows.append({"model": key, "specification": models[key].label, "frequency": data.attrs.get("frequency", ""),
                     "leads": ", ".join(test.get("terms", [])) or "none", "chi2": test.get("statistic", np.nan),
                     "df": test.get("df", 0), "p-value": test.get("p_value", np.nan),
                     "diagnostics": lead_diagnostics(result)[0],
                     "clusters": result.info["clusters"]})
    columns = ["model", "specification", "frequency", "leads", "chi2", "df", "p-value", "diagnostics", "clusters"]
    return pd.DataFrame(rows, columns=columns).set_index("model")


#: Quantities of the general models in the estimate table (new names: the attribution of the
#: synthesis reads other quantities, so these are reported beside it, not counted in it).
MODEL_QUANTITIES = {
    "coefficient": "agreement coefficient (general gravity models)",
    "leads": "lead test p-value (general gravity models)",
    "balance": "agreement effect on the balance (general gravity models)",
}


def model_estimate_rows(fits: dict, reporter: str, partner: str, models: dict | None = None,
                        level: float = 0.95) -> list[dict]:
    """Rows for the results store (:func:`korus_research.results.estimate_rows`) of fitted
    models: each of the study's agreement terms (log points), the lead test's p-value, and
    the partial-equilibrium effect on the reporter's balance in every year from entry
    (US$ bn, :func:`pe_counterfactual`); each row carries the lead test as its diagnostics."""
    models = models or MODELS
    rows = []
    for key, (result, data, _) in fits.items():
        model = models[key]
        status, detail = lead_diagnostics(result)
        estimator = f"gravity PPML general: {model.label}"
        table = result.table.set_index("term")
        own = [t for t in table.index if t == OWN or t.startswith(f"{OWN}_")]
        rows += [{"quantity": MODEL_QUANTITIES["coefficient"], "estimator": f"{estimator} ({t})", "unit": "log points",
                  "value": table.loc[t, "estimate"], "low": table.loc[t, "ci_low"], "high": table.loc[t, "ci_high"],
                  "diagnostics": status, "diagnostics_detail": detail} for t in own]
        test = result.tests.get("leads")
        if test:
            rows.append({"quantity": MODEL_QUANTITIES["leads"], "estimator": estimator, "unit": "p-value",
                         "value": test["p_value"], "diagnostics": status, "diagnostics_detail": detail})
        switch_off = [t for t in data.attrs.get("switch_off", []) if t in table.index]
        years = sorted(y for y in data["year"].unique() if y >= data.attrs.get("entry period", np.inf))
        if switch_off and years:
            pe = pe_counterfactual(data, model.flow, result, (reporter, partner), switch_off, years,
                                   unit=model.unit_to_bn, level=level)
            rows += [{"quantity": MODEL_QUANTITIES["balance"], "estimator": estimator, "period": str(y),
                      "unit": "US$ bn", "value": r["balance effect"], "low": r["balance effect ci_low"],
                      "high": r["balance effect ci_high"], "diagnostics": status, "diagnostics_detail": detail}
                     for y, r in pe.iterrows()]
    return rows


# ---------------------------------------------------------------- GE with a bootstrap ---


def ge_agreement_effect(data: pd.DataFrame, flow: str, coefficients: pd.Series, members: tuple[str, str],
                        year: int, switch_off: list[str], theta: float = 6.0, imbalances: str = "additive",
                        unit: float = 1.0) -> pd.Series:
    """General-equilibrium effect of an agreement: its terms ``switch_off`` (with
    ``coefficients``) removed from the ``year`` flows between the members, the world
    re-solved by :func:`ge_with_imbalances`; the effect is the actual minus the
    counterfactual.

    Returns ``<a> exports to <b>, %`` and the reverse (``100 (X / X' - 1)``),
    ``<a> welfare, %`` and ``<b> welfare, %`` (``100 (1 / W' - 1)``, W' the welfare change
    of removing the agreement) and ``<a> balance with <b>`` (``(X_ab - X_ba) - (X'_ab - X'_ba)``
    in flow units divided by ``unit``).

    References
    ----------
    Yotov, Y. V., Piermartini, R., Monteiro, J.-A. and Larch, M. (2016). An Advanced Guide to
        Trade Policy Analysis: The Structural Gravity Model. WTO and UNCTAD (ch. 2).
    """
    rows = data[data["year"] == year]
    flows = year_flows(data, flow, year)
    countries = list(flows.index)
    a, b = members
    beta = pd.DataFrame(0.0, index=countries, columns=countries)
    for i, j in ((a, b), (b, a)):
        row = rows[(rows["exporter"] == i) & (rows["importer"] == j)]
        if row.empty:
            raise GravityError(f"no {i}->{j} flow in {year}")
        beta.loc[i, j] = -sum(float(coefficients[t]) * float(row[t].iloc[0]) for t in switch_off)
    ge = ge_with_imbalances(flows, beta, theta=theta, imbalances=imbalances)
    new = ge.flows
    return pd.Series({
        f"{a} exports to {b}, %": 100 * (flows.loc[a, b] / new.loc[a, b] - 1),
        f"{b} exports to {a}, %": 100 * (flows.loc[b, a] / new.loc[b, a] - 1),
        f"{a} welfare, %": 100 * (1 / ge.welfare[a] - 1),
        f"{b} welfare, %": 100 * (1 / ge.welfare[b] - 1),
        f"{a} balance with {b}": ((flows.loc[a, b] - flows.loc[b, a]) - (new.loc[a, b] - new.loc[b, a])) / unit,
    })


@dataclass
class GEBootstrapResult:
    """A GE counterfactual with bootstrap intervals.

    ``table``: per quantity the point estimate (full sample) and the percentile interval;
    ``draws``: per successful draw the re-estimated coefficients and the quantities;
    ``info``: draws asked, used and failed, seed, level, the resampling, seconds.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    info: dict


def ge_bootstrap(data: pd.DataFrame, flow: str, terms: list[str], members: tuple[str, str], year: int,
                 switch_off: list[str], draws: int = 99, seed: int = 0, theta: float = 6.0,
                 imbalances: str = "additive", level: float = 0.95, unit: float = 1.0,
                 resample: str = "symmetric", fixed_effects="three-way", pair_column: str | None = None,
                 ssc: str = "stata", coefficients: pd.Series | None = None) -> GEBootstrapResult:
    """Percentile intervals of a GE counterfactual by a seeded bootstrap over pairs.

    Each draw resamples pairs (``resample``: a kind of :func:`pair_ids`; by default the
    unordered pair, so both directions move together) with replacement, re-estimates the
    PPML model (``terms``, ``fixed_effects``) on the drawn pairs (a pair drawn k times
    weighted by k, which gives the estimates of k copies of its rows), and re-solves
    :func:`ge_agreement_effect` with the drawn coefficients of ``switch_off`` on the actual
    ``year`` flows. The pairs that carry ``switch_off`` (the agreement's members) are a
    stratum of their own, kept once in every draw: without them the agreement's coefficient
    is not identified. The interval therefore reflects the estimation of everything else
    (the fixed effects, the counterfactual's comparison pairs) but not the members' own
    idiosyncratic shocks, which one treated pair cannot measure (Conley and Taber 2011).

    Parameters
    ----------
    draws : int
        Bootstrap draws; ``seed`` seeds ``np.random.default_rng``.
    level : float
        Coverage of the percentile interval (quantiles by ``scipy.stats.mstats.mquantiles``).
    coefficients : Series, optional
        The full-sample coefficients, when already estimated (else fitted here).

    References
    ----------
    Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall
        (ch. 13, percentile intervals).
    Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for
        inference with clustered errors. Review of Economics and Statistics 90(3), 414-427.
    Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with a
        small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    Anderson, J. E. and Yotov, Y. V. (2016). Terms of trade and global efficiency effects of
        free trade agreements, 1990-2002. Journal of International Economics 99, 279-298
        (bootstrapped GE intervals).
    """
    import time

    if draws < 1:
        raise GravityError(f"draws {draws}: at least one")
    start = time.perf_counter()
    a, b = members

    def fit_effect(panel, weights=None):
        # coefficients only: heteroskedasticity-robust errors (the cheapest); a tolerance of 1e-7
        # moves them by less than 1e-8, far inside the bootstrap's spread
        result = ppml(panel, flow, terms, fixed_effects, ssc=ssc, pair_column=pair_column, errors="hetero",
                      weights=weights, tol=1e-7)
        return effect_of(result.table.set_index("term")["estimate"])

    def effect_of(coef):
        missing = [t for t in switch_off if t not in coef.index]
        if missing:
            raise GravityError(f"term(s) {missing} not estimated")
        return coef[switch_off], ge_agreement_effect(data, flow, coef, members, year, switch_off, theta, imbalances,
                                                     unit)

    point_coef, point = effect_of(coefficients) if coefficients is not None else fit_effect(data)
    units = pair_ids(data, resample)
    treated_units = set(units[(data[switch_off] != 0).any(axis=1)])
    control = sorted(set(units) - treated_units)
    treated = sorted(treated_units)
    code = pd.Series(np.arange(len(control)), index=control).reindex(units).to_numpy()  # NaN: treated
    rng = np.random.default_rng(seed)
    rows, failed = [], []
    for draw in range(draws):
        # a pair drawn k times enters with weight k: the same estimates as k copies of its rows
        counts = np.bincount(rng.integers(0, len(control), len(control)), minlength=len(control))
        weight = np.where(np.isnan(code), 1.0, counts[np.nan_to_num(code).astype(int)])
        boot = data.assign(bootstrap_weight=weight)[weight > 0]
        try:
            coef, effect = fit_effect(boot, weights="bootstrap_weight")
        except (KorusError, ValueError, np.linalg.LinAlgError) as err:
            failed.append(f"draw {draw}: {str(err)[:80]}")
            continue
        rows.append({"draw": draw, **{f"b[{t}]": v for t, v in coef.items()}, **effect.to_dict()})
    if not rows:
        raise GravityError(f"every bootstrap draw failed ({failed[0]})")
    sample = pd.DataFrame(rows).set_index("draw")
    tails = [(1 - level) / 2, (1 + level) / 2]
    bounds = {q: stats.mstats.mquantiles(sample[q].to_numpy(), prob=tails, alphap=1, betap=1) for q in point.index}
    table = pd.DataFrame({"estimate": point, "low": {q: v[0] for q, v in bounds.items()},
                          "high": {q: v[1] for q, v in bounds.items()}})
    table.index.name = "quantity"
    info = {"draws asked": draws, "draws used": len(sample), "draws failed": len(failed), "seed": seed,
            "level": level, "interval": "percentile",
            "resampled": f"{resample} pairs with replacement ({len(control)}); the {len(treated)} pair(s) with the "
                         "agreement's terms kept once in every draw",
            "coefficients (full sample)": ", ".join(f"{t} = {v:.4f}" for t, v in point_coef.items()),
            "theta": theta, "imbalances": imbalances, "seconds": round(time.perf_counter() - start, 1),
            "failures": "; ".join(failed[:5])}
    return GEBootstrapResult(table, sample, info)


def ge_bootstrap_model(model: Model, table: pd.DataFrame, members: tuple[str, str], entry_year: int, year: int,
                       draws: int = 99, seed: int = 0, theta: float = 6.0, imbalances: str = "additive",
                       level: float = 0.95, reporter: str = "USA", ssc: str = "stata") -> GEBootstrapResult:
    """:func:`ge_bootstrap` of ``model`` (:data:`MODELS`): its terms built by
    :func:`build_model_data`, the study's agreement terms switched off, the balance in US$
    billion."""
    result, data, terms = estimate_model(model, table, members, entry_year, reporter, ssc, tol=1e-8)
    out = ge_bootstrap(data, model.flow, terms, members, year, data.attrs["switch_off"], draws=draws, seed=seed,
                       theta=theta, imbalances=imbalances, level=level, unit=model.unit_to_bn,
                       fixed_effects=model.fixed_effects, ssc=ssc,
                       coefficients=result.table.set_index("term")["estimate"])
    out.info["model"] = model.label
    out.info["lead test"] = lead_diagnostics(result)
    return out


#: Quantities of the bootstrapped GE counterfactual in the estimate table (new names).
GE_QUANTITIES = {
    "balance": "GE bootstrap: agreement effect on the balance",
    "exports": "GE bootstrap: agreement effect on US exports to the partner",
    "imports": "GE bootstrap: agreement effect on US imports from the partner",
    "welfare reporter": "GE bootstrap: welfare effect on the US",
    "welfare partner": "GE bootstrap: welfare effect on the partner",
}


def bootstrap_estimate_rows(boot: GEBootstrapResult, reporter: str, partner: str, year: int) -> list[dict]:
    """Rows for the results store of :func:`ge_bootstrap_model` (reporter first in its
    ``members``): the balance effect (US$ bn) and the bilateral flow and welfare effects
    (percent), with percentile intervals; the diagnostics are the model's lead test."""
    status, detail = boot.info.get("lead test", ("not tested", ""))
    how = (f"percentile interval of {boot.info['draws used']} pairs-bootstrap draws (seed {boot.info['seed']}; "
           f"{boot.info['resampled']})")
    if boot.info["level"] != 0.95:
        raise GravityError("the estimate table holds 95% intervals: run the bootstrap with level=0.95")
    source = {"balance": (f"{reporter} balance with {partner}", "US$ bn"),
              "exports": (f"{reporter} exports to {partner}, %", "percent"),
              "imports": (f"{partner} exports to {reporter}, %", "percent"),
              "welfare reporter": (f"{reporter} welfare, %", "percent"),
              "welfare partner": (f"{partner} welfare, %", "percent")}
    estimator = f"gravity PPML + GE: {boot.info.get('model', 'bootstrap')}"
    return [{"quantity": GE_QUANTITIES[k], "estimator": estimator, "period": str(year), "unit": unit,
             "value": boot.table.loc[q, "estimate"], "low": boot.table.loc[q, "low"], "high": boot.table.loc[q, "high"],
             "diagnostics": status, "diagnostics_detail": f"{detail}; {how}" if detail else how}
            for k, (q, unit) in source.items()]
