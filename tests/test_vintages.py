"""``fetch --update``: a newer release served from a loopback server (no network).

The "recorded newer releases" are built here, at test time, in a temporary folder from the
mirror's files: a few values changed and a month appended (SYNTHETIC revisions, labelled so).
Nothing copied from the mirror is committed. The Census workbook is edited in its sheet XML
(fast: openpyxl would take seconds to load and save 9,000 rows); the small BIS workbook with
openpyxl.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import re
import shutil
import threading
import zipfile
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from korus_research import cli, fetch, parsers, prepare, registry, vintages
from korus_research.errors import DataError, ParameterError
from replay import ReplayServer

COUNTRY = "census/country.xlsx"
BIS = "bis/broad.xlsx"
KOR, CHN, WORLD = 5800, 5700, 15

#: SYNTHETIC revisions of the Census workbook: (year, CTY_CODE, column) -> amount added, $ million.
#: Each month's change is added to the year's total too (IYR/EYR), as in a real release.
CENSUS_REVISIONS = {(2023, KOR, "EJAN"): 100.0, (2015, CHN, "IMAR"): 50.5, (2026, KOR, "IJAN"): 10.0}
#: SYNTHETIC appended month: February 2026 (the pinned release ends in January 2026).
CENSUS_FEBRUARY = {(2026, WORLD, "EFEB"): 150000.0, (2026, WORLD, "IFEB"): 200000.0,
                   (2026, KOR, "EFEB"): 6000.0, (2026, KOR, "IFEB"): 11000.0}


def _column_letters(n: int) -> str:
    letters = ""
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def edit_workbook(src: Path, dest: Path, deltas: dict | None = None, replace: dict | None = None) -> Path:
    """Copy the Census workbook ``src`` to ``dest`` with SYNTHETIC edits made in its XML.

    ``deltas``: (year, CTY_CODE, column) -> amount added to that cell and to the year's total
    (``IYR``/``EYR``); ``replace``: {member: [(old bytes, new bytes)]} raw replacements
    (a sheet or a column renamed)."""
    deltas, replace = deltas or {}, replace or {}
    with zipfile.ZipFile(src) as zin:
        members = {info.filename: (info, zin.read(info.filename)) for info in zin.infolist()}
    if deltas:
        strings = [t.decode() for t in re.findall(rb"<si><t[^>]*>(.*?)</t></si>", members["xl/sharedStrings.xml"][1])]
        index = {text: str(i) for i, text in enumerate(strings)}
        sheet = members["xl/worksheets/sheet1.xml"][1].decode()
        header = {strings[int(i)]: _column_letters(k + 1)
                  for k, i in enumerate(re.findall(r'<c r="[A-Z]+1" t="s"><v>(\d+)</v>', sheet))}
        for (year, code, column), amount in deltas.items():
            # the row whose year (column A) and CTY_CODE (column B, 4 digits) are these shared strings
            key = re.search(rf'<c r="A(\d+)" t="s"><v>{index[str(year)]}</v></c>'
                            rf'<c r="B\1" t="s"><v>{index[f"{code:04d}"]}</v></c>', sheet)
            n = key.group(1)
            for col in (header[column], header[column[0] + "YR"]):  # the month and the year's total
                cell = re.compile(rf'(<c r="{col}{n}"[^>]*><v>)([^<]*)(</v>)')
                sheet = cell.sub(lambda m, a=amount: f"{m.group(1)}{float(m.group(2)) + a!r}{m.group(3)}", sheet, count=1)
        info = members["xl/worksheets/sheet1.xml"][0]
        members[info.filename] = (info, sheet.encode())
    for member, pairs in replace.items():
        info, data = members[member]
        for old, new in pairs:
            assert old in data, (member, old)
            data = data.replace(old, new)
        members[member] = (info, data)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info, data in members.values():
            zout.writestr(info.filename, data)
    return dest


@pytest.fixture(scope="module")
def census_update(tmp_path_factory, mirror):
    """One update of census/country.xlsx to a SYNTHETIC newer release, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("census_update")
    newer = edit_workbook(mirror / COUNTRY, tmp / "newer.xlsx", {**CENSUS_REVISIONS, **CENSUS_FEBRUARY})
    raw = tmp / "raw"
    fetch.fetch(COUNTRY, raw_dir=raw, mirror=mirror)
    before = (raw / COUNTRY).read_bytes()
    body = newer.read_bytes()
    with ReplayServer(lambda q: body, "/foreign-trade/balance/country.xlsx") as server:
        result = vintages.update(COUNTRY, raw_dir=raw, mirror=mirror, lock=tmp / "data-vintages.lock.json",
                                 reports_dir=tmp / "reports", url=server.url)
    return SimpleNamespace(tmp=tmp, raw=raw, lock=tmp / "data-vintages.lock.json", reports=tmp / "reports",
                           result=result, newer=newer, body=body, before=before, url=server.url, mirror=mirror)


def _cells(frame: pd.DataFrame, change: str) -> dict:
    rows = frame[frame["change"] == change]
    return {(int(r.cty_code), int(r.year), r.months, r.measure): round(float(r.difference_usd_mn), 6)
            for r in rows.itertuples(index=False)}


def test_revision_report_lists_exactly_the_changed_cells(census_update):
    result = census_update.result
    assert result.status == "locked" and (result.pinned_vintage, result.vintage) == ("2026-01", "2026-02")
    assert result.report == census_update.reports / "revisions" / "census-country-2026-01-2026-02.csv"
    report = pd.read_csv(result.report, dtype={"months": str})
    assert list(report.columns) == ["cty_code", "year", "months", "partner_name", "iso3", "partner_kind", "measure",
                                    "change", "old_usd_mn", "new_usd_mn", "difference_usd_mn"]
    assert _cells(report, "revised") == {
        (KOR, 2023, "01-12", "exports"): 100.0, (KOR, 2023, "01-12", "balance"): 100.0,
        (CHN, 2015, "01-12", "imports"): 50.5, (CHN, 2015, "01-12", "balance"): -50.5,
        (KOR, 2026, "01-01", "imports"): 10.0, (KOR, 2026, "01-01", "balance"): -10.0,  # January, released in both
    }
    assert _cells(report, "added") == {  # February 2026: only the new release has it
        (WORLD, 2026, "02-02", "exports"): 150000.0, (WORLD, 2026, "02-02", "imports"): 200000.0,
        (WORLD, 2026, "02-02", "balance"): -50000.0,
        (KOR, 2026, "02-02", "exports"): 6000.0, (KOR, 2026, "02-02", "imports"): 11000.0,
        (KOR, 2026, "02-02", "balance"): -5000.0,
    }
    assert not (report["change"] == "removed").any()
    kor = report[(report["cty_code"] == KOR) & (report["year"] == 2023) & (report["measure"] == "exports")].iloc[0]
    pinned = result.old_tables["census_annual"]
    old = pinned[(pinned["cty_code"] == KOR) & (pinned["year"] == 2023)]["exports_usd_mn"].item()
    assert kor["old_usd_mn"] == pytest.approx(old) and kor["new_usd_mn"] == pytest.approx(old + 100.0)
    assert kor["partner_name"] == "Korea, South" and kor["iso3"] == "KOR"
    summary = result.summary.read_text()
    assert "Cells revised: 6; added (periods only the new release holds): 6; removed: 0." in summary
    assert "Korea, South (5800) 2023 Jan-Dec exports: 64,966.07 -> 65,066.07 (+100.00)" in summary
    assert "Added periods: 2026 Feb" in summary and "vintage 2026-02" in summary


def test_the_lock_file_records_the_new_release(census_update):
    lock = json.loads(census_update.lock.read_text())
    entry = lock["files"][COUNTRY]
    digest = hashlib.sha256(census_update.body).hexdigest()
    assert entry["sha256"] == digest and entry["bytes"] == len(census_update.body)
    assert entry["vintage"] == "2026-02" and entry["pinned_vintage"] == "2026-01"
    assert entry["pinned_sha256"] == registry.PINNED[COUNTRY].sha256
    assert entry["url"] == census_update.url
    assert datetime.fromisoformat(entry["retrieved_at"]).tzinfo is not None
    assert entry["revisions"] == {"report": str(census_update.result.report), "revised": 6, "added": 6, "removed": 0}
    stored = Path(entry["stored_as"])
    assert stored == fetch.stored_vintage(COUNTRY, digest, census_update.raw)
    assert fetch.sha256_of(stored) == digest
    assert registry.read_lock(census_update.lock)["files"][COUNTRY] == entry  # the format the registry reads


def test_the_default_pinned_run_is_unchanged(census_update, tmp_path):
    raw = census_update.raw
    assert (raw / COUNTRY).read_bytes() == census_update.before  # the update never wrote the pinned copy
    assert registry.vintages_mode() == "pinned" and registry.get(COUNTRY).sha256 == registry.PINNED[COUNTRY].sha256
    out = fetch.fetch(COUNTRY, raw_dir=raw, mirror=census_update.mirror)
    assert fetch.sha256_of(out) == registry.PINNED[COUNTRY].sha256
    prepare.verify_raw(raw)  # what `prepare` checks first: the registry's size and sha256
    monthly, annual = parsers.parse_census_country(out, file=COUNTRY)
    pd.testing.assert_frame_equal(annual, census_update.result.old_tables["census_annual"])
    assert set(annual["vintage"]) == {"2026-01"}
    # and the new release is still refused without --update, as before
    other = tmp_path / "mirror" / COUNTRY
    other.parent.mkdir(parents=True)
    shutil.copyfile(census_update.newer, other)
    with pytest.raises(fetch.FetchError, match="checksum mismatch .* registry expects"):
        fetch.fetch(COUNTRY, raw_dir=tmp_path / "raw", mirror=tmp_path / "mirror", download=_no_download)
    assert not (tmp_path / "raw" / COUNTRY).exists()


def _no_download(url, dest, sha256):
    raise OSError("no network in tests")


def test_the_locked_vintage_is_used_on_request(census_update, tmp_path, monkeypatch, snap):
    raw = tmp_path / "raw"
    shutil.copytree(census_update.raw, raw)
    digest = hashlib.sha256(census_update.body).hexdigest()
    monkeypatch.setenv("KORUS_VINTAGES", "locked")
    assert registry.vintages_mode() == "locked"
    try:
        registry.use_vintages(lock=census_update.lock)
        assert registry.get(COUNTRY).sha256 == digest and registry.SIZES[COUNTRY] == len(census_update.body)
        assert registry.pinned(COUNTRY).sha256 == registry.PINNED[COUNTRY].sha256
        assert registry.get(COUNTRY).vintage.startswith("2026-02 release (locked")
        out = fetch.fetch(COUNTRY, raw_dir=raw, mirror=census_update.mirror, download=_no_download)
        assert fetch.sha256_of(out) == digest  # taken from data/raw/vintages, verified against the lock
        manifest = fetch.read_manifest(raw)[COUNTRY]
        assert manifest["sha256"] == digest and manifest["source"].startswith("vintage store")
        prepare.verify_raw(raw)  # prepare accepts the locked bytes in locked mode
        # without the stored release the mirror's (pinned) copy is no substitute: refused, naming the lock
        with pytest.raises(fetch.FetchError, match=r"with sha256 [0-9a-f]{64} \(the locked vintage '2026-02 release") as err:
            fetch.fetch(COUNTRY, raw_dir=tmp_path / "empty", mirror=census_update.mirror, download=_no_download)
        assert f"checksum mismatch at {census_update.mirror / COUNTRY}: sha256 {registry.PINNED[COUNTRY].sha256}, " \
               f"lock file expects {digest}" in str(err.value)
    finally:
        monkeypatch.delenv("KORUS_VINTAGES")
        registry.use_vintages()
    assert registry.get(COUNTRY).sha256 == registry.PINNED[COUNTRY].sha256
    assert registry.SIZES == registry.PINNED_SIZES
    with pytest.raises(DataError, match=r"data/raw/census/country.xlsx: field '(sha256|bytes)'.*the registry expects"):
        prepare.verify_raw(raw)  # back to pinned: the locked bytes are refused ...
    fetch.fetch(COUNTRY, raw_dir=raw, mirror=census_update.mirror)  # ... and restored from the mirror
    assert fetch.sha256_of(raw / COUNTRY) == registry.PINNED[COUNTRY].sha256


def test_an_update_to_the_same_release_changes_nothing(census_update):
    lock_before = census_update.lock.read_bytes()
    body = census_update.body
    with ReplayServer(lambda q: body, "/country.xlsx") as server:
        again = vintages.update(COUNTRY, raw_dir=census_update.raw, mirror=census_update.mirror,
                                lock=census_update.lock, reports_dir=census_update.reports, url=server.url)
    assert again.status == "already locked" and "already in" in again.message()
    assert census_update.lock.read_bytes() == lock_before
    pinned = (census_update.mirror / COUNTRY).read_bytes()
    with ReplayServer(lambda q: pinned, "/country.xlsx") as server:
        same = vintages.update(COUNTRY, raw_dir=census_update.raw, mirror=census_update.mirror,
                               lock=census_update.lock, reports_dir=census_update.reports, url=server.url)
    assert same.status == "unchanged" and "serves the pinned release" in same.message()
    assert census_update.lock.read_bytes() == lock_before


# ---------------------------------------------------------------- refusals


@pytest.fixture
def pinned_raw(tmp_path, mirror, snap):
    """data/raw holding the pinned Census workbook; ``unchanged()`` says nothing stored changed."""
    raw = tmp_path / "raw"
    fetch.fetch(COUNTRY, raw_dir=raw, mirror=mirror)
    before = snap(raw)
    lock, reports = tmp_path / "data-vintages.lock.json", tmp_path / "reports"

    def unchanged() -> bool:
        leftovers = list(raw.rglob(".download-*")) + list(raw.rglob("*.part")) + list(raw.rglob("vintages"))
        return snap(raw) == before and not lock.exists() and not reports.exists() and not leftovers
    return SimpleNamespace(raw=raw, lock=lock, reports=reports, mirror=mirror, unchanged=unchanged)


def _update(setup, body: bytes, path: str = COUNTRY):
    with ReplayServer(lambda q: body, "/" + Path(path).name) as server:
        return vintages.update(path, raw_dir=setup.raw, mirror=setup.mirror, lock=setup.lock,
                               reports_dir=setup.reports, url=server.url)


@pytest.mark.parametrize("edit, field, says", [
    ({"xl/workbook.xml": [(b'<sheet name="country"', b'<sheet name="countries"')]}, "sheets",
     r"sheet\(s\) \['country'\] of the pinned release missing; the download has \['countries'\]"),
    ({"xl/sharedStrings.xml": [(b"<t>EYR</t>", b"<t>EYEAR</t>")]}, "columns of sheet 'country'",
     r"columns of sheet 'country' differ from the pinned release: missing \['EYR'\], new \['EYEAR'\]"),
])
def test_a_different_workbook_is_refused_and_nothing_stored_changes(pinned_raw, tmp_path, edit, field, says):
    other = edit_workbook(pinned_raw.mirror / COUNTRY, tmp_path / "other.xlsx", replace=edit)  # SYNTHETIC
    with pytest.raises(vintages.ReleaseError) as err:
        _update(pinned_raw, other.read_bytes())
    message = str(err.value)
    assert message.startswith(f"{COUNTRY}: field {field!r}: the release downloaded from http://127.0.0.1:")
    assert re.search(says, message) and "nothing stored changed" in message and "\n" not in message
    assert pinned_raw.unchanged()


def test_a_page_instead_of_a_workbook_is_refused(pinned_raw):
    with pytest.raises(vintages.ReleaseError, match=r"census/country.xlsx: field '\(file\)'.*not an Excel workbook"):
        _update(pinned_raw, b"<html>SYNTHETIC: the page moved</html>")
    assert pinned_raw.unchanged()


class _Truncating(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends half of it and hangs up (an interrupted transfer)."""

    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[: len(self.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_an_interrupted_download_leaves_nothing_half_written(pinned_raw):
    handler = type("Handler", (_Truncating,), {"body": (pinned_raw.mirror / COUNTRY).read_bytes() + b"SYNTHETIC"})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/country.xlsx"
        with pytest.raises(fetch.FetchError, match=r"census/country.xlsx: cannot download the current release from "
                                                   r"http://127.0.0.1:\d+/country.xlsx: .*nothing stored changed"):
            vintages.update(COUNTRY, raw_dir=pinned_raw.raw, mirror=pinned_raw.mirror, lock=pinned_raw.lock,
                            reports_dir=pinned_raw.reports, url=url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert pinned_raw.unchanged()

    def killed(url, dest):  # a Ctrl-C halfway through writing
        dest.write_bytes(b"SYNTHETIC half a file")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        vintages.update(COUNTRY, raw_dir=pinned_raw.raw, mirror=pinned_raw.mirror, lock=pinned_raw.lock,
                        reports_dir=pinned_raw.reports, url="http://127.0.0.1:9/country.xlsx", download=killed)
    assert pinned_raw.unchanged()


# ---------------------------------------------------------------- BIS: the generic comparison


def _bis_release(src: Path, dest: Path, *, revise=True, append=True, drop=None, title=None) -> Path:
    """A SYNTHETIC newer BIS release: Korea's real rate of June 2020 revised by +1.5, March 2021
    appended for Korea and the US (both sheets); or a series dropped, or a title row changed."""
    import openpyxl

    wb = openpyxl.load_workbook(src)
    for ws in wb:
        codes = {c.value: c.column for c in ws[5] if c.value}
        if revise and ws.title == "Real":
            for row in ws.iter_rows(min_row=6):
                if row[0].value == datetime(2020, 6, 30):
                    row[codes["RBKR"] - 1].value += 1.5
        if append:
            prefix = ws.title[0] + "B"
            values = {codes[f"{prefix}KR"]: 90.5, codes[f"{prefix}US"]: 118.75}
            ws.append([datetime(2021, 3, 31)] + [values.get(k) for k in range(2, ws.max_column + 1)])
        if drop:
            ws.delete_cols(codes[ws.title[0] + drop])
        if title:
            ws["A3"] = title
    wb.save(dest)
    return dest


def test_bis_update_reports_exactly_the_changed_cells(tmp_path, mirror):
    raw = tmp_path / "raw"
    fetch.fetch(BIS, raw_dir=raw, mirror=mirror)
    newer = _bis_release(mirror / BIS, tmp_path / "broad.xlsx")
    setup = SimpleNamespace(raw=raw, mirror=mirror, lock=tmp_path / "lock.json", reports=tmp_path / "reports")
    result = _update(setup, newer.read_bytes(), BIS)
    assert (result.pinned_vintage, result.vintage) == ("2021-02", "2021-03")
    report = pd.read_csv(result.report)
    assert result.report.name == "bis-broad-2021-02-2021-03.csv"
    cells = {(r.change, r.kind, r.series_code, r.month): round(r.difference_index_2010_100, 6)
             for r in report.itertuples(index=False)}
    assert cells == {
        ("revised", "real", "RBKR", "2020-06"): 1.5,
        ("added", "real", "RBKR", "2021-03"): 90.5, ("added", "real", "RBUS", "2021-03"): 118.75,
        ("added", "nominal", "NBKR", "2021-03"): 90.5, ("added", "nominal", "NBUS", "2021-03"): 118.75,
    }
    assert json.loads(setup.lock.read_text())["files"][BIS]["vintage"] == "2021-03"
    assert fetch.sha256_of(raw / BIS) == registry.PINNED[BIS].sha256


@pytest.mark.parametrize("change, field, says", [
    ({"drop": "BKR"}, "series", r"series of the pinned release missing from the download .*rows: [RN]BKR \(Korea"),
    ({"title": "Monthly averages; 2020=100"}, "title rows of sheet 'Real' (the index base is there)",
     r"missing \['Monthly averages; 2010=100'\], new \['Monthly averages; 2020=100'\]"),
])
def test_bis_release_of_another_table_is_refused(tmp_path, mirror, snap, change, field, says):
    raw = tmp_path / "raw"
    fetch.fetch(BIS, raw_dir=raw, mirror=mirror)
    before = snap(raw)
    other = _bis_release(mirror / BIS, tmp_path / "broad.xlsx", revise=False, append=False, **change)
    setup = SimpleNamespace(raw=raw, mirror=mirror, lock=tmp_path / "lock.json", reports=tmp_path / "reports")
    with pytest.raises(vintages.ReleaseError) as err:
        _update(setup, other.read_bytes(), BIS)
    assert str(err.value).startswith(f"{BIS}: field {field!r}: the release downloaded from")
    assert re.search(says, str(err.value))
    assert snap(raw) == before and not setup.lock.exists() and not setup.reports.exists()


# ---------------------------------------------------------------- lock file and command line


def test_a_bad_or_stale_lock_is_named(tmp_path, monkeypatch):
    lock = tmp_path / "data-vintages.lock.json"
    assert registry.read_lock(lock) == {"version": 1, "files": {}}  # absent: empty
    lock.write_text('{"version": 1, "files": {"census/nope.xlsx": {}}}')
    with pytest.raises(DataError, match=r"data-vintages.lock.json: field 'census/nope.xlsx': .*not in the source registry"):
        registry.read_lock(lock)
    entry = {"sha256": "a" * 64, "bytes": 1, "vintage": "2026-02", "retrieved_at": "2026-03-01T00:00:00+00:00",
             "url": "https://example.invalid/country.xlsx", "pinned_sha256": "b" * 64}  # SYNTHETIC
    lock.write_text(json.dumps({"version": 1, "files": {COUNTRY: entry}}))
    with pytest.raises(DataError, match="registry now pins 767bfb694e25.*fetch --update census/country.xlsx"):
        registry.use_vintages("locked", lock)
    assert registry.locked_files() == {} and registry.get(COUNTRY).sha256 == registry.PINNED[COUNTRY].sha256
    lock.write_text("{")
    registry.use_vintages("pinned", lock)  # the default never reads the lock
    monkeypatch.setenv("KORUS_VINTAGES", "lockd")
    with pytest.raises(ParameterError, match=r"KORUS_VINTAGES='lockd' is not valid; valid: pinned, locked"):
        registry.vintages_mode()


def test_fetch_update_command(tmp_path, mirror, monkeypatch, capsys):
    raw, lock, reports = tmp_path / "raw", tmp_path / "data-vintages.lock.json", tmp_path / "reports"
    for name, value in {"KORUS_DATA_RAW": raw, "KORUS_DATA_MIRROR": mirror, "KORUS_VINTAGES_LOCK": lock,
                        "KORUS_REPORTS": reports}.items():
        monkeypatch.setenv(name, str(value))
    assert cli.main(["fetch", "--update", "fred/GDP.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: parameter file='fred/GDP.csv' is not valid: no newer release can be fetched")
    assert err.endswith("valid: census/country.xlsx, census/enduse_imports.xlsx, bis/broad.xlsx") and "\n" not in err

    pinned = (mirror / COUNTRY).read_bytes()
    other = edit_workbook(mirror / COUNTRY, tmp_path / "other.xlsx",
                          replace={"xl/workbook.xml": [(b'<sheet name="country"', b'<sheet name="Sheet1"')]})
    for body, code, says in [(pinned, 0, "census/country.xlsx: the official address serves the pinned release"),
                             (other.read_bytes(), 2, "error: census/country.xlsx: field 'sheets': ")]:
        with ReplayServer(lambda q, b=body: b, "/country.xlsx") as server:
            monkeypatch.setitem(registry.SOURCES, COUNTRY, dataclasses.replace(registry.PINNED[COUNTRY], url=server.url))
            assert cli.main(["fetch", "--update", "--quiet", COUNTRY]) == code
        out = capsys.readouterr()
        assert says in (out.out if code == 0 else out.err)
    assert not lock.exists() and not reports.exists() and not (raw / COUNTRY).exists()  # the mirror's copy was compared
