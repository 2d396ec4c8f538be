"""New vintages on request: ``korus-research fetch --update [FILE...]``.

The registry (:mod:`korus_research.registry`) pins the exact bytes the study was computed
on. The Census and BIS addresses serve only the *current* release, so a plain fetch from them
is refused with a checksum message. An update takes that current release on purpose:

1. it finds the pinned copy (``data/raw``, the mirror; else the normal fetch) to compare with;
2. it downloads what the file's official address (the registry's ``url``) serves now, with
   pooch, into a temporary folder of ``data/raw`` (an interrupted transfer leaves no file,
   and the folder is removed whatever happens);
3. it checks that the download is a release of the *same table*: an Excel workbook with
   every sheet of the pinned release, the same column headers (or title rows), read by the
   registry's parser, whose processed tables pass their pandera schemas
   (:mod:`korus_research.schemas`), still holding every partner (or series) and year of the
   pinned release, and not older than it. Otherwise :class:`ReleaseError` names the file and
   what differs, and nothing stored changed;
4. it writes the revisions report ``reports/revisions/<file>-<pinned vintage>-<new
   vintage>.csv`` (with a ``.txt`` summary): every cell of the processed tables that differs
   between the two releases, by partner and year;
5. it keeps the release in ``data/raw/vintages/`` and records it in the lock file
   (``data-vintages.lock.json`` at the project root, kept in git): sha256, bytes, vintage
   detected from the file, retrieval time, address, the pinned checksum it was compared with.

The pinned copy in ``data/raw/<file>`` is never written by an update. ``fetch`` without
``--update`` keeps verifying the registry's checksums; ``KORUS_VINTAGES=locked`` makes the
whole pipeline (fetch, prepare's raw-file check, the manifest, the provenance table) use the
lock file's instead (:func:`korus_research.registry.use_vintages`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, fetch, io, parsers, registry
from .errors import DataError, KorusError, ParameterError

#: Written at the top of the lock file, for whoever opens it.
LOCK_ABOUT = ("Newer official releases recorded by `korus-research fetch --update`; used only with "
              "KORUS_VINTAGES=locked (the registry's pinned checksums are the default).")


class ReleaseError(DataError):
    """A downloaded release is not a well-formed release of the same table; nothing stored changed."""


@dataclass(frozen=True)
class ReleaseCheck:
    """How to check and compare releases of one registry file.

    Attributes
    ----------
    tables : tuple of str
        Processed tables (schemas of :mod:`korus_research.schemas`) the parser's outputs are
        validated as, in the parser's order.
    layout : callable
        ``layout(workbook) -> {what: values}``: column headers or title rows that a release of
        the same table repeats exactly (columns naming periods left out).
    coverage : callable
        ``coverage(tables) -> {what: {key: label}}``: partners, series, years that a newer
        release must still hold.
    vintage : callable
        ``vintage(tables) -> str``: the release's last period (``YYYY-MM`` or ``YYYY``).
    revisions : callable
        ``revisions(old_tables, new_tables) -> DataFrame``: the changed cells.
    unit : str
        Suffix of the value columns of the report (``usd_mn`` ...) and its words.
    period : tuple of str
        Columns of the report that name the period (for the summary).
    describe : callable
        ``describe(row) -> str``: a report row in words.
    """

    tables: tuple[str, ...]
    layout: Callable[[object], dict[str, list]]
    coverage: Callable[[dict], dict[str, dict]]
    vintage: Callable[[dict], str]
    revisions: Callable[[dict, dict], pd.DataFrame]
    unit: tuple[str, str]
    period: tuple[str, ...]
    describe: Callable[[pd.Series], str]
    keys_text: str


# ----------------------------------------------------------------- comparing two releases


def compare_cells(old: pd.DataFrame, new: pd.DataFrame, keys: list[str], measures: dict[str, str],
                  labels: list[str], unit: str) -> pd.DataFrame:
    """Every cell (key x measure) that differs between two versions of one table.

    Parameters
    ----------
    old, new : DataFrame
        The processed table built from each release (unique on ``keys``).
    keys : list of str
        Columns that identify a row (partner, year, ...).
    measures : dict
        Value column -> the name shown in the report's ``measure`` column.
    labels : list of str
        Descriptive columns carried along (partner name, ...), from the new release when
        it has the row.
    unit : str
        Suffix of the value columns: ``old_<unit>``, ``new_<unit>``, ``difference_<unit>``.

    Returns
    -------
    DataFrame
        ``keys, labels, measure, change, old_<unit>, new_<unit>, difference_<unit>``, where
        ``change`` is ``revised`` (in both, value differs), ``added`` (only in the new release;
        cells holding 0 are left out: the Census workbook stores months not yet released as 0)
        or ``removed`` (only in the pinned release).
    """
    def long(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[keys + list(measures)].melt(id_vars=keys, var_name="measure", value_name="value")
        out["measure"] = out["measure"].map(measures)
        return out

    both = long(old).merge(long(new), on=[*keys, "measure"], how="outer", suffixes=("_old", "_new"), indicator=True)
    o, n = both["value_old"].to_numpy(float), both["value_new"].to_numpy(float)
    same = np.isclose(o, n, rtol=1e-12, atol=1e-9) | (np.isnan(o) & np.isnan(n))
    change = np.select(
        [(both["_merge"] == "both") & ~same, (both["_merge"] == "right_only") & (np.nan_to_num(n) != 0),
         both["_merge"] == "left_only"],
        ["revised", "added", "removed"], default="")
    out = both.assign(change=change)[change != ""].drop(columns="_merge")
    names = pd.concat([new[keys + labels], old[keys + labels]]).drop_duplicates(keys)
    out = out.merge(names, on=keys, how="left")
    out = out.rename(columns={"value_old": f"old_{unit}", "value_new": f"new_{unit}"})
    out[f"difference_{unit}"] = out[f"new_{unit}"] - out[f"old_{unit}"].fillna(0.0)
    order = {"revised": 0, "added": 1, "removed": 2}
    out = out.sort_values(by=["change", *keys, "measure"], key=lambda s: s.map(order) if s.name == "change" else s)
    return out[[*keys, *labels, "measure", "change", f"old_{unit}", f"new_{unit}", f"difference_{unit}"]].reset_index(drop=True)


# ----------------------------------------------------------------- Census country.xlsx

_CENSUS_MEASURES = {"exports_usd_mn": "exports", "imports_usd_mn": "imports", "balance_usd_mn": "balance"}
_CENSUS_LABELS = ["partner_name", "iso3", "partner_kind"]


def _census_windows(annual: pd.DataFrame, monthly: pd.DataFrame, ranges: pd.DataFrame) -> pd.DataFrame:
    """Exports, imports and balance of each partner and year over months ``first..last``: the
    published annual values for a whole year, the sum of the months otherwise."""
    keys = ["cty_code", "year"]
    ranges = ranges[ranges["first"] <= ranges["last"]].copy()
    ranges["months"] = ranges["first"].map("{:02d}".format) + "-" + ranges["last"].map("{:02d}".format)
    whole = (ranges["first"] == 1) & (ranges["last"] == 12)
    full = ranges[whole].merge(annual[[*keys, *_CENSUS_MEASURES]], on=keys)
    part = ranges[~whole].merge(monthly[[*keys, "month", "exports_usd_mn", "imports_usd_mn"]], on=keys)
    part = part[(part["month"] >= part["first"]) & (part["month"] <= part["last"])]
    part = part.groupby([*keys, "months"], as_index=False)[["exports_usd_mn", "imports_usd_mn"]].sum()
    part["balance_usd_mn"] = part["exports_usd_mn"] - part["imports_usd_mn"]
    out = pd.concat([full[[*keys, "months", *_CENSUS_MEASURES]], part], ignore_index=True)
    names = annual[["cty_code", *_CENSUS_LABELS]].drop_duplicates("cty_code")
    return out.merge(names, on="cty_code", how="left")


def census_revisions(old: dict, new: dict) -> pd.DataFrame:
    """Revisions between two releases of the Census country workbook, by partner and year.

    A value is *revised* when a month released in both releases changed: for a year complete in
    both, the published annual exports, imports and balance are compared; for a year released
    only in part in either (the last year), the sums over the months both release
    (``months`` says which, e.g. ``01-01``). The months that only the newer release holds are
    *added* cells; partner-years only the pinned release holds are *removed*.
    """
    keys = ["cty_code", "year"]
    oa, na = old["census_annual"], new["census_annual"]
    reported = oa[[*keys, "months_reported"]].merge(na[[*keys, "months_reported"]], on=keys, how="outer",
                                                   suffixes=("_old", "_new"))
    mo = reported["months_reported_old"].fillna(0).astype(int)
    mn = reported["months_reported_new"].fillna(0).astype(int)
    common = np.minimum(mo, mn)
    in_both = (mo > 0) & (mn > 0)
    shared = pd.DataFrame({"cty_code": reported["cty_code"], "year": reported["year"], "first": 1, "last": common})[in_both]
    added = pd.DataFrame({"cty_code": reported["cty_code"], "year": reported["year"], "first": mo + 1, "last": mn})[mn > mo]
    removed = pd.DataFrame({"cty_code": reported["cty_code"], "year": reported["year"], "first": 1, "last": mo})[mn == 0]
    old_cells = _census_windows(oa, old["census_monthly"], pd.concat([shared, removed]))
    new_cells = _census_windows(na, new["census_monthly"], pd.concat([shared, added]))
    return compare_cells(old_cells, new_cells, ["cty_code", "year", "months"], _CENSUS_MEASURES, _CENSUS_LABELS, "usd_mn")


def _census_layout(workbook) -> dict[str, list]:
    return {"columns of sheet 'country'": _first_row(workbook, "country")}


def _census_coverage(tables: dict) -> dict[str, dict]:
    annual = tables["census_annual"]
    names = annual.drop_duplicates("cty_code").set_index("cty_code")["partner_name"]
    return {"partner codes (CTY_CODE)": {int(c): f"{c} ({n})" for c, n in names.items()},
            "years": {int(y): str(y) for y in annual["year"].unique()}}


# ----------------------------------------------------------------- Census enduse_imports.xlsx


def enduse_revisions(old: dict, new: dict) -> pd.DataFrame:
    """Revisions of US imports by partner, 5-digit end use and year (US$)."""
    return compare_cells(old["enduse_imports"], new["enduse_imports"], ["cty_code", "end_use", "year"],
                         {"imports_usd": "imports"}, ["partner_name", "iso3", "end_use_desc"], "usd")


def _enduse_layout(workbook) -> dict[str, list]:
    header = _first_row(workbook, "EnduseImp")
    return {"columns of sheet 'EnduseImp' (besides value_YY)": [c for c in header if not re.fullmatch(r"value_\d\d", str(c))]}


def _enduse_coverage(tables: dict) -> dict[str, dict]:
    table = tables["enduse_imports"]
    names = table.drop_duplicates("cty_code").set_index("cty_code")["partner_name"]
    uses = table.drop_duplicates("end_use").set_index("end_use")["end_use_desc"]
    return {"partner codes (CTY_CODE)": {int(c): f"{c} ({n})" for c, n in names.items()},
            "end-use codes": {u: f"{u} ({d})" for u, d in uses.items()},
            "years": {int(y): str(y) for y in table["year"].unique()}}


# ----------------------------------------------------------------- BIS broad.xlsx


def _bis_cells(tables: dict) -> pd.DataFrame:
    table = tables["bis_eer_monthly"]
    return table.assign(month=table["date"].dt.strftime("%Y-%m"))


def bis_revisions(old: dict, new: dict) -> pd.DataFrame:
    """Revisions of the BIS effective exchange rates by kind, series (economy) and month."""
    return compare_cells(_bis_cells(old), _bis_cells(new), ["kind", "series_code", "month"],
                         {"index_2010_100": "index"}, ["economy"], "index_2010_100")


def _bis_layout(workbook) -> dict[str, list]:
    out = {}
    for sheet in ("Real", "Nominal"):
        if sheet in workbook.sheetnames:
            rows = workbook[sheet].iter_rows(min_row=1, max_row=3, max_col=1, values_only=True)
            out[f"title rows of sheet {sheet!r} (the index base is there)"] = [r[0] for r in rows]
    return out


def _bis_coverage(tables: dict) -> dict[str, dict]:
    table = tables["bis_eer_monthly"]
    series = table.drop_duplicates(["kind", "series_code"])
    return {"series": {(k, c): f"{c} ({e})" for k, c, e in series[["kind", "series_code", "economy"]].itertuples(index=False)},
            "months": {m: m for m in table["date"].dt.strftime("%Y-%m").unique()}}


def _months(label: str) -> str:
    first, last = label.split("-")
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return names[int(first) - 1] if first == last else f"{names[int(first) - 1]}-{names[int(last) - 1]}"


#: The files ``fetch --update`` can take a newer release of: their registry address serves the
#: current release of the file itself. Other files are fixed extracts or older releases (the
#: 2024-06 Census workbook), or their address is a page or an API, not the file.
UPDATABLE: dict[str, ReleaseCheck] = {
    "census/country.xlsx": ReleaseCheck(
        ("census_monthly", "census_annual"), _census_layout, _census_coverage,
        lambda t: str(t["census_annual"]["vintage"].iloc[0]), census_revisions,
        ("usd_mn", "US$ million"), ("year", "months"),
        lambda r: f"{r['partner_name']} ({r['cty_code']}) {r['year']} {_months(r['months'])} {r['measure']}",
        "partner and year (exports, imports, balance)",
    ),
    "census/enduse_imports.xlsx": ReleaseCheck(
        ("enduse_imports",), _enduse_layout, _enduse_coverage,
        lambda t: str(int(t["enduse_imports"]["year"].max())), enduse_revisions,
        ("usd", "US$"), ("year",),
        lambda r: f"{r['partner_name']} ({r['cty_code']}) end use {r['end_use']} {r['year']} {r['measure']}",
        "partner, end-use category and year (imports)",
    ),
    "bis/broad.xlsx": ReleaseCheck(
        ("bis_eer_monthly",), _bis_layout, _bis_coverage,
        lambda t: t["bis_eer_monthly"]["date"].max().strftime("%Y-%m"), bis_revisions,
        ("index_2010_100", "index, 2010 = 100"), ("month",),
        lambda r: f"{r['economy']} {r['kind']} ({r['series_code']}) {r['month']}",
        "series (economy), kind and month",
    ),
}


def check_for(path: str) -> ReleaseCheck:
    """The release check of ``path``; a :class:`ParameterError` listing the files that can be
    updated otherwise."""
    if path in UPDATABLE:
        return UPDATABLE[path]
    if path not in registry.SOURCES:
        raise ParameterError("file", path, list(UPDATABLE), "not in the source registry")
    source = registry.get(path)
    raise ParameterError("file", path, list(UPDATABLE),
                         f"no newer release can be fetched: its registry address ({source.url}) is not an "
                         "address serving the current release of this file (it is a fixed extract, an older "
                         "release, a page or an API)")


# ----------------------------------------------------------------- reading a release


def _first_row(workbook, sheet: str) -> list:
    if sheet not in workbook.sheetnames:
        return []
    row = next(workbook[sheet].iter_rows(min_row=1, max_row=1, values_only=True), ())
    return [c for c in row if c is not None]


def _refuse(path: str, url: str, field_: str, problem: str, rows=None) -> ReleaseError:
    return ReleaseError(path, field_, f"the release downloaded from {url} is refused (nothing stored changed): {problem}", rows)


def _workbook_layout(file: Path, path: str, url: str, check: ReleaseCheck) -> tuple[list[str], dict[str, list]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, openpyxl and XML errors: not a workbook at all
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise _refuse(path, url, "(file)", f"not an Excel workbook ({type(exc).__name__}: {first})") from None
    try:
        return list(workbook.sheetnames), check.layout(workbook)
    finally:
        workbook.close()


def _parse(file: Path, path: str, check: ReleaseCheck) -> dict[str, pd.DataFrame]:
    """The processed tables of one release: the registry's parser, then the tables' schemas."""
    parser = getattr(parsers, registry.pinned(path).parser)
    out = parser(file, file=path)
    frames = out if isinstance(out, tuple) else (out,)
    return {name: io.validate(name, frame, path) for name, frame in zip(check.tables, frames, strict=True)}


def _problem_of(exc: DataError) -> str:
    text = str(exc)
    prefix = f"{exc.file}: field {exc.field!r}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def verify_release(old_file: Path, new_file: Path, path: str, url: str, old_tables: dict | None = None
                   ) -> tuple[dict, dict, list[str]]:
    """Check that ``new_file`` is a well-formed release of the same table as ``old_file``.

    Returns
    -------
    old_tables, new_tables, notes
        The processed tables of each release and notes for the summary (new sheets, new
        partners).

    Raises
    ------
    ReleaseError
        Naming the file and what differs: a sheet missing, other column headers or title
        rows, a parser or schema failure, partners (series) or years missing, an older vintage.
    """
    check = check_for(path)
    old_sheets, old_layout = _workbook_layout(old_file, path, "the pinned copy", check)
    new_sheets, new_layout = _workbook_layout(new_file, path, url, check)
    missing = [s for s in old_sheets if s not in new_sheets]
    if missing:
        raise _refuse(path, url, "sheets", f"sheet(s) {missing} of the pinned release missing; the download has {new_sheets}")
    notes = [f"new sheet(s) in the download: {[s for s in new_sheets if s not in old_sheets]}"] if set(new_sheets) - set(old_sheets) else []
    for what, values in old_layout.items():
        got = new_layout.get(what, [])
        if list(got) != list(values):
            gone = [v for v in values if v not in got]
            extra = [v for v in got if v not in values]
            detail = f"missing {gone}, new {extra}" if gone or extra else f"{values} became {got} (order)"
            raise _refuse(path, url, what, f"{what} differ from the pinned release: {detail}")
    old_tables = old_tables if old_tables is not None else _parse(old_file, path, check)
    try:
        new_tables = _parse(new_file, path, check)
    except DataError as exc:
        raise _refuse(path, url, exc.field, _problem_of(exc), exc.rows) from None
    old_cov, new_cov = check.coverage(old_tables), check.coverage(new_tables)
    for what, keys in old_cov.items():
        gone = [label for key, label in keys.items() if key not in new_cov.get(what, {})]
        if gone:
            raise _refuse(path, url, what, f"{what} of the pinned release missing from the download "
                          f"(a locked vintage must cover the pinned one)", gone)
        extra = [label for key, label in new_cov.get(what, {}).items() if key not in keys]
        if extra and what not in ("years", "months"):
            notes.append(f"{len(extra)} {what} new in the download: {', '.join(map(str, extra[:10]))}"
                         + (" ..." if len(extra) > 10 else ""))
    old_v, new_v = check.vintage(old_tables), check.vintage(new_tables)
    if new_v < old_v:
        raise _refuse(path, url, "vintage", f"the download is the {new_v} release, older than the pinned {old_v}")
    return old_tables, new_tables, notes


# ----------------------------------------------------------------- the update


@dataclass
class UpdateResult:
    """What ``fetch --update`` did for one file."""

    path: str
    status: str  # "locked", "unchanged" (the address serves the pinned bytes), "already locked"
    pinned_vintage: str
    vintage: str
    sha256: str
    bytes: int
    url: str
    lock: Path
    report: Path | None = None
    summary: Path | None = None
    revisions: pd.DataFrame | None = None
    counts: dict = field(default_factory=dict)
    old_tables: dict = field(default_factory=dict)
    new_tables: dict = field(default_factory=dict)

    def message(self) -> str:
        """One line for the command line."""
        if self.status == "unchanged":
            return f"{self.path}: the official address serves the pinned release ({self.pinned_vintage}); nothing to lock"
        if self.status == "already locked":
            return f"{self.path}: the official address serves the release {self.vintage} already in {self.lock.name}"
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items())
        return (f"{self.path}: pinned {self.pinned_vintage} -> {self.vintage} ({counts} cells); report "
                f"{_shown(self.report)}; locked in {self.lock.name} (KORUS_VINTAGES=locked uses it)")


def _shown(path: Path | None) -> str:
    if path is None:
        return ""
    path = Path(path)
    return str(path.relative_to(config.PROJECT_ROOT)) if path.is_relative_to(config.PROJECT_ROOT) else str(path)


def _resolve(shown: str) -> Path:
    """A path as the lock file shows it (relative: from the project root)."""
    path = Path(shown)
    return path if path.is_absolute() else config.PROJECT_ROOT / path


def _pinned_copy(path: str, raw_dir: Path, mirror) -> Path:
    """A verified copy of the pinned release: already at hand, else fetched as usual (pinned
    checksums in use); never the locked one."""
    source = registry.pinned(path)
    found = fetch.verified_copy(path, source, raw_dir=raw_dir, mirror=mirror)
    if found is not None:
        return found
    if registry.checksum_from(path) == "registry":
        return fetch.fetch(path, raw_dir=raw_dir, mirror=mirror)
    raise fetch.FetchError(f"{path}: no copy of the pinned release (sha256 {source.sha256[:12]}...) in data/raw or the "
                           "mirror to compare the new release with; run `KORUS_VINTAGES=pinned korus-research fetch "
                           f"{path}` first")


def _atomic_write(dest: Path, write: Callable[[Path], None]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        config.publish(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _summary(path: str, check: ReleaseCheck, revisions: pd.DataFrame, info: dict, notes: list[str]) -> str:
    unit, words = check.unit
    counts = revisions["change"].value_counts()
    lines = [
        f"Revisions of {path}: the release retrieved {info['retrieved_at']} from {info['url']}",
        f"(vintage {info['vintage']}, sha256 {info['sha256'][:12]}...) against the pinned release "
        f"(vintage {info['pinned_vintage']}, sha256 {info['pinned_sha256'][:12]}...).",
        f"Compared: the processed tables ({', '.join(check.tables)}) built from each release, by {check.keys_text}, {words}.",
        f"Cells revised: {counts.get('revised', 0)}; added (periods only the new release holds): "
        f"{counts.get('added', 0)}; removed: {counts.get('removed', 0)}.",
    ]
    revised = revisions[revisions["change"] == "revised"]
    if len(revised):
        lines.append(f"Revised periods: {_periods(revised, check)}")
        lines.append("Largest revisions (new - old):")
        top = revised.reindex(revised[f"difference_{unit}"].abs().sort_values(ascending=False).index).head(10)
        for _, row in top.iterrows():
            lines.append(f"  {check.describe(row)}: {row[f'old_{unit}']:,.2f} -> {row[f'new_{unit}']:,.2f} "
                         f"({row[f'difference_{unit}']:+,.2f})")
    added = revisions[revisions["change"] == "added"]
    if len(added):
        lines.append(f"Added periods: {_periods(added, check)}")
    lines += [f"Note: {n}" for n in notes]
    lines.append(f"Every changed cell: {Path(info['report']).name} (columns old_{unit}, new_{unit}, difference_{unit}).")
    return "\n".join(lines) + "\n"


def _periods(cells: pd.DataFrame, check: ReleaseCheck, most: int = 12) -> str:
    """The distinct periods of some report rows, in words (``2023 Jan-Dec, 2026 Feb``)."""
    frame = cells[list(check.period)].drop_duplicates().sort_values(list(check.period))
    words = [" ".join(_months(str(v)) if col == "months" else str(v) for col, v in zip(check.period, row, strict=True))
             for row in frame.itertuples(index=False)]
    return ", ".join(words[:most]) + (f" ... ({len(words)} in all)" if len(words) > most else "")


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(Path(path).with_suffix(""))).strip("-")


def write_lock_entry(lock: Path, path: str, entry: dict, raw_dir: Path) -> None:
    """Record ``entry`` for ``path`` in the lock file (atomically, one writer at a time)."""
    with config.file_lock(raw_dir / ".vintages.flock"):
        data = registry.read_lock(lock)
        data["files"][path] = entry
        data["about"] = LOCK_ABOUT

        def write(tmp: Path) -> None:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

        _atomic_write(lock, write)


def update(
    path: str,
    *,
    raw_dir: Path | None = None,
    mirror: Path | None | str = "default",
    lock: Path | None = None,
    reports_dir: Path | None = None,
    url: str | None = None,
    download: Callable[[str, Path], None] | None = None,
) -> UpdateResult:
    """Fetch the current official release of ``path``, verify it, report its revisions, lock it.

    Parameters
    ----------
    path : str
        A file of :data:`UPDATABLE`, e.g. ``"census/country.xlsx"``.
    raw_dir : Path, optional
        ``data/raw`` (default :func:`korus_research.config.data_raw`); releases are kept in its
        ``vintages/`` folder.
    mirror : Path or None, optional
        As in :func:`korus_research.fetch.fetch` (where the pinned copy may be found).
    lock : Path, optional
        The lock file (default :func:`korus_research.registry.lock_path`).
    reports_dir : Path, optional
        Folder of the reports (default ``reports/``); the revisions go to its ``revisions/``.
    url : str, optional
        Address of the current release (default: the registry's ``url`` of the file).
    download : callable, optional
        ``download(url, dest)``; default :func:`korus_research.fetch.download_release` (pooch).

    Returns
    -------
    UpdateResult

    Raises
    ------
    ReleaseError
        When the download is not a well-formed release of the same table.
    FetchError
        When the download fails or no pinned copy can be had to compare with.
    ParameterError
        For a file that cannot be updated.

    Nothing stored changes unless the release is verified: ``data/raw/<path>`` is never
    written by an update; the report, the stored release and the lock entry (written last)
    follow the verification.
    """
    check = check_for(path)
    raw_dir = Path(raw_dir or config.data_raw())
    lock = Path(lock or registry.lock_path())
    reports = Path(reports_dir or config.reports_dir()) / "revisions"
    url = url or registry.get(path).url
    download = download or fetch.download_release
    pinned = registry.pinned(path)

    fetch.clean_leftovers(raw_dir)
    old_file = _pinned_copy(path, raw_dir, mirror)
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=raw_dir, prefix=".download-"))
    try:
        new_file = tmp_dir / Path(path).name
        try:
            download(url, new_file)
        except Exception as exc:  # network, HTTP status, an interrupted transfer
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise fetch.FetchError(f"{path}: cannot download the current release from {url}: "
                                   f"{type(exc).__name__}: {first} (nothing stored changed)") from None
        if not new_file.is_file():
            raise fetch.FetchError(f"{path}: the download from {url} produced no file (nothing stored changed)")
        digest, size = fetch.sha256_of(new_file), new_file.stat().st_size
        base = dict(path=path, pinned_vintage=pinned.vintage, sha256=digest, bytes=size, url=url, lock=lock)
        if digest == pinned.sha256:
            return UpdateResult(status="unchanged", vintage=pinned.vintage, **base)
        previous = registry.read_lock(lock)["files"].get(path)
        stored = fetch.stored_vintage(path, digest, raw_dir)
        if (previous and previous["sha256"] == digest and previous["pinned_sha256"] == pinned.sha256 and stored.is_file()
                and _resolve(previous.get("revisions", {}).get("report", "")).is_file()):
            return UpdateResult(status="already locked", vintage=previous["vintage"], **base)

        old_tables, new_tables, notes = verify_release(old_file, new_file, path, url)
        old_v, new_v = check.vintage(old_tables), check.vintage(new_tables)
        revisions = check.revisions(old_tables, new_tables)
        label = new_v if new_v != old_v else f"{new_v}-{digest[:8]}"
        report = reports / f"{_slug(path)}-{old_v}-{label}.csv"
        summary = report.with_suffix(".txt")
        retrieved = (previous["retrieved_at"] if previous and previous["sha256"] == digest
                     else datetime.now(UTC).isoformat(timespec="seconds"))
        counts = {kind: int((revisions["change"] == kind).sum()) for kind in ("revised", "added", "removed")}
        entry = {
            "sha256": digest, "bytes": size, "vintage": new_v, "retrieved_at": retrieved, "url": url,
            "pinned_sha256": pinned.sha256, "pinned_vintage": old_v,
            "stored_as": _shown(stored), "revisions": {"report": _shown(report), **counts},
        }
        info = {**entry, "report": str(report)}
        _atomic_write(report, lambda tmp: revisions.to_csv(tmp, index=False))
        _atomic_write(summary, lambda tmp: tmp.write_text(_summary(path, check, revisions, info, notes)))
        stored.parent.mkdir(parents=True, exist_ok=True)
        if not stored.is_file():
            config.publish(new_file, stored)
        write_lock_entry(lock, path, entry, raw_dir)
        return UpdateResult(status="locked", vintage=new_v, report=report, summary=summary, revisions=revisions,
                            counts=counts, old_tables=old_tables, new_tables=new_tables,
                            **{**base, "pinned_vintage": old_v})
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def update_files(paths: list[str] | None = None, **kwargs) -> tuple[list[UpdateResult], list[KorusError]]:
    """:func:`update` for each of ``paths`` (default: every file of :data:`UPDATABLE`); one
    file's failure does not stop the others. Returns the results and the errors."""
    results, errors = [], []
    for path in paths or list(UPDATABLE):
        try:
            results.append(update(path, **kwargs))
        except KorusError as exc:
            errors.append(exc)
    return results, errors
