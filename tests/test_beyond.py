"""Notebook 08's library (korus_research.beyond): cached answers found (never fetched), mirror
statistics, preference use, the tariff-line difference-in-differences and services by type.

Inputs are the answers recorded in tests/data/recorded/ (constructed from the APIs' documentation,
illustrative numbers) and SYNTHETIC data built here, where what each function should find is known
by construction: the gaps and their readings, the utilisation rate, the tariff cut and the effect
of the cut on imports. Cached answers are written by the real clients from a loopback server
(tests/replay.py) into temporary raw folders: no test uses the network. The last test runs
notebook 08 on such caches, so that every section runs (its offline run is the nbval baseline).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from korus_research import apiclient, beyond, comtrade_api, config, dataweb, services
from korus_research.errors import DataError, EstimationError
from replay import ReplayServer

RECORDED = Path(__file__).parent / "data" / "recorded"
TOKEN = "synthetic-dataweb-token-for-tests-only"
BEA_KEY = "SYNTHETIC-BEA-KEY-0000-TESTS-ONLY"
ENTRY = 2012
YEARS = list(range(2009, 2017))
SOURCE = "SYNTHETIC-TEST"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for variable in (comtrade_api.KEY_VARIABLE, comtrade_api.URL_VARIABLE, dataweb.URL_VARIABLE,
                     services.KEY_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(dataweb.TOKEN_VARIABLE, TOKEN)


# --------------------------------------------------------------------------- answers in the APIs' layouts
def comtrade_answer(records: list[tuple[str, str, float]], year: int, reporter: int = 410) -> bytes:
    """A UN Comtrade v1 answer (documented record fields) for ``(flow, hs6, value)`` records."""
    data = [{"typeCode": "C", "freqCode": "A", "refYear": year, "period": str(year), "reporterCode": reporter,
             "partnerCode": 842, "partner2Code": 0, "flowCode": flow, "classificationCode": "H4", "cmdCode": hs6,
             "aggrLevel": 6, "customsCode": "C00", "motCode": 0, "primaryValue": value,
             "cifvalue": value if flow == "M" else None, "fobvalue": value if flow == "X" else None}
            for flow, hs6, value in records]
    return json.dumps({"elapsedTime": "0.1 secs", "count": len(data), "data": data, "error": ""}).encode()


def dataweb_answer(lines: pd.DataFrame, country: str) -> bytes:
    """A DataWeb runReport answer (the recorded file's layout) for tariff lines of one country."""
    years = sorted(lines["year"].unique())
    keys = lines[["hts10", "program", "rate_provision"]].drop_duplicates().sort_values(["hts10", "program"])
    labels = {"61": "61 - Dutiable", "18": "18 - Free under special program", "10": "10 - Free"}

    def table(measure: str, description: str) -> dict:
        values = lines.set_index(["hts10", "program", "rate_provision", "year"])[measure]
        rows = []
        for key in keys.itertuples(index=False):
            cells = [key.hts10, "synthetic line", country,
                     "No program claimed" if key.program == dataweb.NO_PROGRAM else key.program, labels[key.rate_provision]]
            for year in years:
                value = values.get((*key, year))
                cells.append("" if value is None else f"{value:,.0f}")
            rows.append({"rowEntries": [{"value": c} for c in cells]})
        dims = ["HTS Number", "Description", "Country", "Special Import Program", "Rate Provision Code"]
        return {"tableInfo": {"dataToReportDesc": description},
                "column_groups": [{"columns": [{"label": d} for d in dims]},
                                  {"columns": [{"label": str(y)} for y in years]}],
                "row_groups": [{"rowsNew": rows}]}

    return json.dumps({"dto": {"errors": [], "tables": [table("customs_value_usd", "Customs Value"),
                                                         table("calculated_duties_usd", "Calculated Duties")]}}).encode()


def bea_answer(series: dict[tuple[str, str], dict[int, float]], area: str = "Korea, South", user: str = "") -> bytes:
    """A BEA IntlServTrade answer (as in tests/test_services.py) for ``(type, direction) -> {year: US$ mn}``."""
    data = [{"TypeOfService": kind, "TradeDirection": direction, "Affiliation": "AllAffiliations",
             "AreaOrCountry": area, "TimePeriod": str(year), "DataValue": f"{value:,.0f}", "UNIT_MULT": "6"}
            for (kind, direction), values in series.items() for year, value in values.items()]
    return json.dumps({"BEAAPI": {"Request": {"RequestParam": [{"ParameterName": "USERID", "ParameterValue": user}]},
                                  "Results": {"Data": data}}}).encode()


def cache_comtrade(raw: Path, body: bytes, year: int, reporter: str = "KOR") -> None:
    with ReplayServer(lambda path, query: body, "", with_path=True) as server:
        comtrade_api.fetch_hs6(reporter, [year], raw_dir=raw, url=server.url)


def cache_dataweb(raw: Path, body: bytes, partner: str, years) -> None:
    with ReplayServer(lambda path, query: body, "/dataweb", with_path=True) as server:
        dataweb.fetch_tariff_lines(list(years), partner, None, raw_dir=raw, url=server.url)


def cache_bea(raw: Path, body: bytes, monkeypatch, area: str = "Korea, South") -> None:
    monkeypatch.setenv(services.KEY_VARIABLE, BEA_KEY)
    with ReplayServer(lambda query: body, "/api/data") as server:
        services.fetch_services(area, raw_dir=raw, url=server.url)
    monkeypatch.delenv(services.KEY_VARIABLE)


# --------------------------------------------------------------------------- SYNTHETIC tariff lines
def synthetic_tariff_lines(n_lines: int = 300, beta: float = 6.0, gamma: float = 0.1, utilisation: float = 0.8,
                           seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """SYNTHETIC DataWeb lines where the effect is known: log imports of line l from origin o in
    year t are ``a_lo + d_lt + (gamma + beta cut_l) D_ot + e`` (D: partner after entry, e ~ N(0, 0.1));
    the partner's entries after entry claim KR for ``utilisation`` of their value in lines with a cut
    (the rest pays the general rate), third countries (JPN 60%, DEU 40%) always pay it.

    Returns (partner lines, control lines, true cut by line).
    """
    rng = np.random.default_rng(seed)
    codes = [f"{8400000000 + 1013 * i:010d}" for i in range(n_lines)]
    cut = pd.Series(np.where(rng.random(n_lines) < 0.2, 0.0, rng.uniform(0.005, 0.15, n_lines)), index=codes)
    rows = []
    for line in codes:
        a = rng.normal(17.0, 1.0, 2)
        for year in YEARS:
            d = rng.normal(0.0, 0.3)
            for k, origin in enumerate(("KOR", "third")):
                treated = origin == "KOR" and year >= ENTRY
                value = float(np.exp(a[k] + d + (gamma + beta * cut[line]) * treated + rng.normal(0.0, 0.1)))
                rate = cut[line]
                general_rp = "61" if rate > 0 else "10"
                if origin == "KOR":
                    under = utilisation * value if treated and rate > 0 else 0.0
                    if under > 0:
                        rows.append(("KOR", line, year, "KR", "18", under, 0.0))
                    rows.append(("KOR", line, year, dataweb.NO_PROGRAM, general_rp, value - under, (value - under) * rate))
                else:
                    for country, share in (("JPN", 0.6), ("DEU", 0.4)):
                        rows.append((country, line, year, dataweb.NO_PROGRAM, general_rp, share * value, share * value * rate))
    frame = pd.DataFrame(rows, columns=["partner", "hts10", "year", "program", "rate_provision", "customs_value_usd",
                                        "calculated_duties_usd"])
    frame[["customs_value_usd", "calculated_duties_usd"]] = frame[["customs_value_usd", "calculated_duties_usd"]].round(0)
    own = frame[frame["partner"] == "KOR"].reset_index(drop=True)
    return own, frame[frame["partner"] != "KOR"].reset_index(drop=True), cut


@pytest.fixture(scope="module")
def tariff_lines():
    return synthetic_tariff_lines()


# --------------------------------------------------------------------------- cached answers
def test_cached_answers_are_found_and_read_never_fetched(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    cache_comtrade(raw, (RECORDED / "comtrade" / "kor_usa_hs6_2016.json").read_bytes(), 2016)
    recorded = (RECORDED / "dataweb" / "kor_hts10_2011_2016.json").read_bytes()
    with ReplayServer(lambda path, query: recorded, "/dataweb", with_path=True) as server:
        dataweb.fetch_tariff_lines([2011, 2016], "KOR", ["8703", "8708", "6110"], raw_dir=raw, url=server.url)

    def no_network(*args, **kwargs):
        raise AssertionError("beyond must never send a request")

    monkeypatch.setattr(apiclient, "request", no_network)
    answers = beyond.cached_answers("comtrade", raw)
    assert len(answers) == 1 and answers[0].params["reporterCode"] == "410" and answers[0].params["period"] == "2016"
    found = beyond.cached_partner_reports("KOR", [2011, 2016], raw)
    assert found.ready and set(found.frame["year"]) == {2016} and found.files == [answers[0].name]
    assert found.missing == ["UN Comtrade, KOR-reported trade with the USA by HS6 for 2011"]
    assert "--reporter KOR --years 2011" in found.command
    own, third = beyond.cached_tariff_lines("KOR", ["JPN", "IRL"], [2011, 2016], raw)
    assert own.ready and set(own.frame["program"]) == {"KR", "none"} and own.frame["partner"].eq("KOR").all()
    assert not third.ready and "a control partner (JPN)" in third.reason()  # IRL: no Census code, not fetchable
    assert "for c in JPN; do DATAWEB_TOKEN=... python -m korus_research.dataweb --partner $c --years 2011 2016" in third.command
    status = beyond.data_status(found, own, third)
    assert status["cached"].tolist() == ["yes", "yes", "no"]
    # nothing cached at all: each says what is missing and the command
    empty = beyond.cached_partner_reports("KOR", [2016], tmp_path / "empty")
    assert not empty.ready and empty.reason().startswith("not cached in data/raw: UN Comtrade, KOR-reported")
    missing_bea = beyond.cached_services("Korea, South", "KOR", tmp_path / "empty")
    assert not missing_bea.ready and "services.fetch_services('Korea, South')" in missing_bea.reason()
    # a cached answer edited after the fetch is refused, naming it
    answers[0].path.write_text(answers[0].path.read_text().replace("10850000000", "10850000001"))
    with pytest.raises(DataError, match="sha256.*changed after it was fetched"):
        beyond.cached_partner_reports("KOR", [2016], raw)


# --------------------------------------------------------------------------- mirror statistics
def _mirror_inputs():
    """SYNTHETIC chapters with known gaps; the freight margin is 5% in both years."""
    us = pd.DataFrame([("import", 2011, "87", 10.5e9), ("import", 2011, "85", 5.0e9), ("import", 2011, "84", 2.0e9),
                       ("import", 2011, "03", 0.5e6), ("import", 2016, "87", 16.8e9), ("import", 2016, "85", 6.0e9),
                       ("import", 2016, "84", 3.0e9), ("import", 2016, "03", 0.4e6),
                       ("export", 2011, "87", 1.0e9), ("export", 2016, "87", 1.5e9)],
                      columns=["flow", "year", "hs2", "value_usd"])
    reported = pd.DataFrame([("export", 2011, "87", 10.0e9), ("export", 2011, "85", 4.0e9), ("export", 2011, "84", 2.2e9),
                             ("export", 2011, "03", 0.3e6), ("export", 2016, "87", 16.0e9), ("export", 2016, "85", 4.8e9),
                             ("export", 2016, "84", 2.5e9), ("export", 2016, "03", 0.3e6),
                             ("import", 2011, "87", 1.05e9), ("import", 2016, "87", 1.575e9)],
                            columns=["flow", "year", "hs2", "value_usd"])
    return us, reported


def test_mirror_chapters_read_each_gap(tmp_path):
    us, reported = _mirror_inputs()
    margin = pd.Series({2011: 0.05, 2016: 0.05})
    chapters = beyond.mirror_chapters(us, reported, margin)
    read = chapters.set_index(["direction", "year", "hs2"])["reading"]
    imports = "US imports from the partner"
    assert read[imports, 2011, "87"] == read[imports, 2016, "87"] == "valuation (CIF/FOB)"
    assert read[imports, 2016, "85"] == "origin attribution or timing"
    assert read[imports, 2011, "84"] == "re-exports or timing, reverses between years: timing"
    assert read[imports, 2016, "84"] == "origin attribution or timing, reverses between years: timing"
    assert read[imports, 2011, "03"] == "too small to read"
    assert read["US exports to the partner", 2016, "87"] == "valuation (CIF/FOB)"
    row = chapters.set_index(["direction", "year", "hs2"]).loc[(imports, 2011, "85")]
    assert row["gap_usd"] == 1.0e9 and row["gap_share"] == pytest.approx(0.25)
    summary = beyond.reading_summary(chapters)
    assert summary.groupby(["direction", "year"])["chapters"].sum().to_dict() == {
        ("US exports to the partner", 2011): 1, ("US exports to the partner", 2016): 1,
        (imports, 2011): 4, (imports, 2016): 4}

    # the margin measured on US data, and the total gap split into freight and the rest
    comtrade = us.assign(partner_key="KOR")
    cif_2011 = us.query("flow == 'import' and year == 2011")["value_usd"].sum()
    annual = pd.DataFrame({"vintage": "2026-01", "year": [2011, 2016], "iso3": "KOR", "months_reported": 12,
                           "exports_usd_mn": [1.0e3, 1.5e3], "imports_usd_mn": [cif_2011 / 1.04 / 1e6, 24.0e3]})
    margin = beyond.freight_margin(comtrade, annual, "KOR", [2011, 2016])
    assert margin[2011] == pytest.approx(0.04)
    accounting = beyond.gap_accounting(beyond.mirror_chapters(us, reported, margin), annual, "KOR", margin)
    items = accounting.query("direction == @imports and year == 2011").set_index("item")["usd_bn"]
    gap = items["gap (CIF report minus FOB report)"]
    assert gap == pytest.approx((cif_2011 - 16.2003e9) / 1e9)
    assert items.filter(like="freight").iloc[0] == pytest.approx(cif_2011 / 1e9 * (1 - 1 / 1.04))
    assert items.filter(like="freight").iloc[0] + items.filter(like="rest:").iloc[0] == pytest.approx(gap)
    exports = accounting.query("direction == 'US exports to the partner' and year == 2016").set_index("item")["usd_bn"]
    assert exports.filter(like="freight").iloc[0] == pytest.approx(1.575 * margin[2016] / (1 + margin[2016]))


# --------------------------------------------------------------------------- preference use, tariff DiD
def test_preference_use_and_the_cut_are_what_was_built(tariff_lines):
    own, third, cut = tariff_lines
    eligible = beyond.eligible_lines(own, third)
    assert eligible == set(cut[cut > 0].index)  # dutiable lines only; KR claimed only on them
    use = beyond.preference_use(own, eligible)
    assert list(use.index) == YEARS
    assert (use.loc[: ENTRY - 1, "utilisation"] == 0).all()
    np.testing.assert_allclose(use.loc[ENTRY:, "utilisation"], 0.8, atol=1e-6)
    assert use["eligible_usd"].le(use["imports_usd"]).all() and use["duty_rate"].between(0, 0.15).all()
    measured = beyond.tariff_cut(own, third, ENTRY)
    assert measured.attrs["year"] == ENTRY - 1
    pd.testing.assert_series_equal(measured.sort_index(), cut.rename("cut").rename_axis("hts10").sort_index(), atol=1e-6,
                                  check_exact=False)
    # a line the partner did not ship before entry takes the third countries' rate
    fewer = own[~((own["hts10"] == cut.index[0]) & (own["year"] < ENTRY))]
    assert beyond.tariff_cut(fewer, third, ENTRY)[cut.index[0]] == pytest.approx(cut.iloc[0], abs=1e-6)
    with pytest.raises(EstimationError, match="no year before entry"):
        beyond.tariff_cut(own[own["year"] >= ENTRY], third[third["year"] >= ENTRY], ENTRY)


def test_tariff_did_recovers_the_known_effect(tariff_lines):
    own, third, cut = tariff_lines
    panel = beyond.tariff_panel(own, third, ENTRY)
    assert panel["hts10"].nunique() == len(cut) and set(panel["origin"]) == {beyond.PARTNER, beyond.THIRD}
    assert panel.attrs["years"] == YEARS and len(panel) == len(cut) * 2 * len(YEARS)
    for method in ("ols", "ppml"):
        result = beyond.tariff_did(panel, method).set_index("term")
        for term, truth in (("treated_post_cut", 6.0), ("treated_post", 0.1)):
            estimate, se = result.loc[term, "estimate"], result.loc[term, "se"]
            assert abs(estimate - truth) < 4 * se, (method, term, estimate, se)
            assert result.loc[term, "ci_low"] < truth < result.loc[term, "ci_high"], (method, term)
        assert result.loc["treated_post_cut", "se"] < 0.5 and result.loc["treated_post_cut", "p_value"] < 1e-6
        assert result["lines"].iloc[0] == len(cut)
    bins = beyond.did_bins(panel, bins=5)
    assert len(bins) == 5 and bins["lines"].sum() == len(cut)
    assert bins["did_log_points"].is_monotonic_increasing  # larger cuts, larger gains (beta = 6)
    with pytest.raises(EstimationError, match="needs one before and one from entry"):
        beyond.tariff_panel(own, third[third["year"] < ENTRY], ENTRY)
    with pytest.raises(EstimationError, match="choose 'ols' or 'ppml'"):
        beyond.tariff_did(panel, "probit")


# --------------------------------------------------------------------------- services
SERVICES = {  # SYNTHETIC US$ million: the total stalls 2013-2016, travel falls, IP charges rise
    ("AllServiceTypes", "Exports"): {2011: 19000, 2012: 20000, 2013: 21000, 2014: 21300, 2015: 21500, 2016: 21400},
    ("AllServiceTypes", "Imports"): {2011: 9000, 2012: 9300, 2013: 9600, 2014: 10000, 2015: 10500, 2016: 11000},
    ("Travel", "Exports"): {2011: 5000, 2012: 5200, 2013: 5400, 2014: 5000, 2015: 4700, 2016: 4500},
    ("ChargesForTheUseOfIpNie", "Exports"): {2011: 4000, 2012: 4300, 2013: 4500, 2014: 4800, 2015: 5200, 2016: 5600},
    ("Transport", "Exports"): {2011: 2500, 2012: 2500, 2013: 2600, 2014: 2600, 2015: 2600, 2016: 2620},
}


def test_services_by_type_and_the_stall(tmp_path, monkeypatch):
    cache_bea(tmp_path, bea_answer(SERVICES), monkeypatch)
    found = beyond.cached_services("Korea, South", "KOR", tmp_path)
    assert found.ready and found.files == ["bea/IntlServTrade_Korea_South.json"]
    by_type = beyond.services_by_type(found.frame)
    assert by_type.attrs["affiliation"] == "AllAffiliations" and set(by_type["direction"]) == {"Exports", "Imports"}
    stall = beyond.stall_by_type(by_type, 2013, 2016).set_index(["direction", "type_of_service"])
    total = stall.loc[("Exports", "AllServiceTypes")]
    assert total["growth"] == pytest.approx(21400 / 21000 - 1) and bool(total["stalled"])
    assert not stall.loc[("Exports", "Travel"), "stalled"] and stall.loc[("Exports", "Travel"), "growth"] < -0.05
    assert bool(stall.loc[("Exports", "Transport"), "stalled"])
    assert not stall.loc[("Imports", "AllServiceTypes"), "stalled"]
    assert stall.index[0] == ("Exports", "AllServiceTypes")  # the total first, then the types by size


def test_findings_are_written_from_the_numbers(tariff_lines, tmp_path, monkeypatch):
    own, third, _ = tariff_lines
    use = beyond.preference_use(own, beyond.eligible_lines(own, third))
    did = beyond.tariff_did(beyond.tariff_panel(own, third, ENTRY), "ols")
    us, reported = _mirror_inputs()
    margin = pd.Series({2011: 0.05, 2016: 0.05})
    annual = pd.DataFrame({"vintage": "2026-01", "year": [2011, 2016], "iso3": "KOR", "months_reported": 12,
                           "exports_usd_mn": [1.0e3, 1.5e3], "imports_usd_mn": [16.0e3, 24.0e3]})
    accounting = beyond.gap_accounting(beyond.mirror_chapters(us, reported, margin), annual, "KOR", margin)
    cache_bea(tmp_path, bea_answer(SERVICES), monkeypatch)
    stall = beyond.stall_by_type(beyond.services_by_type(beyond.cached_services("Korea, South", "KOR", tmp_path).frame),
                                 2013, 2016)
    text = beyond.findings("KOR", {}, accounting, use, did, stall, ("KR",), (2013, 2016))
    assert len(text) == 6 and not any("nan" in s for s in text)
    assert text[0].startswith("In 2011 the US reported") and "freight and insurance" in text[0]
    assert "80% of US imports from KOR in lines eligible for the preference entered under KR" in text[2]
    assert "per percentage point of tariff cut" in text[3] and "which excludes zero" in text[3]
    assert "they stalled (within 5% of zero)" in text[4] and "Travel changed most downwards" in text[5]
    offline = beyond.findings("KOR", {"services by type": "not cached in data/raw: BEA services trade; fetch with: x"})
    assert offline == ["Not run, for lack of cached data: services by type (BEA services trade). The fetch commands "
                       "are in the skip lines above; the notebook never fetches."]


# --------------------------------------------------------------------------- notebook 08 on cached answers
def test_notebook_08_runs_every_section_on_cached_answers(tariff_lines, tmp_path, monkeypatch):
    import papermill as pm

    from korus_research import io

    if not io.table_path("comtrade_hs2").exists():
        pytest.skip("processed tables not built (make processed)")
    raw = tmp_path / "raw"
    rng = np.random.default_rng(1)
    chapters = ["03", "27", "29", "39", "40", "72", "73", "84", "85", "87", "90"]
    for year in (2011, 2016):  # SYNTHETIC Korea-reported trade with the US, 3 HS6 lines per chapter and flow
        records = [(flow, f"{ch}{k:04d}", float(round(rng.lognormal(19, 1.2), -3)))
                   for flow in ("X", "M") for ch in chapters for k in (1, 2, 3)]
        cache_comtrade(raw, comtrade_answer(records, year), year)
    own, third, _ = tariff_lines
    cache_dataweb(raw, dataweb_answer(own, "Korea"), "KOR", YEARS)
    for country, name in (("JPN", "Japan"), ("DEU", "Germany")):
        cache_dataweb(raw, dataweb_answer(third[third["partner"] == country], name), country, YEARS)
    cache_bea(raw, bea_answer(SERVICES), monkeypatch)

    processed = tmp_path / "processed"
    processed.mkdir()
    for table in config.data_processed().glob("*.parquet"):
        (processed / table.name).symlink_to(table)
    for name, value in {"KORUS_DATA_RAW": raw, "KORUS_DATA_PROCESSED": processed, "KORUS_REPORTS": tmp_path / "reports",
                        "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("KORUS_STUDY_SCOPE", raising=False)
    monkeypatch.delenv(dataweb.TOKEN_VARIABLE)
    target = tmp_path / "08.ipynb"  # kept for reading: /tmp/pytest-of-*/.../08.ipynb
    pm.execute_notebook(str(config.notebooks_dir() / "08_beyond_the_mirror.ipynb"), str(target),
                        cwd=str(config.notebooks_dir()), kernel_name="python3", progress_bar=False)
    nb = json.loads(target.read_text())
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                     for c in nb["cells"] for o in c.get("outputs", []))
    assert "skipped:" not in text and "Not run" not in text
    for caption in ("as each side reports it, and the gap split", "Preference use: US imports from KOR under KR",
                    "Tariff-line difference-in-differences", "growth and the stall test"):
        assert caption in text, caption
    folder = next((processed / "results").glob("KOR-*"))
    record = json.loads((folder / "runs" / "08.json").read_text())
    assert record["finished"] and record["skipped"] == []
    assert set(record["results"]) == {"mirror_chapters", "mirror_accounting", "preference_use", "tariff_did",
                                      "services_stall"}
    estimates = pd.read_parquet(folder / "estimates_08.parquet")
    ols = estimates[estimates["estimator"] == "tariff-line DiD (ols)"].iloc[0]
    assert ols["quantity"] == "tariff-line DiD: imports per unit of tariff cut" and ols["low"] < 6.0 < ols["high"]
    use = estimates[estimates["quantity"] == "preference utilisation"].set_index("period")["value"]
    assert use["2011"] == 0 and use["2016"] == pytest.approx(0.8, abs=1e-6)
    assert set(estimates["quantity"]) >= {"mirror gap in US imports (US CIF minus partner FOB)",
                                          "freight and insurance margin on US imports", "US services exports growth"}
    figures = tmp_path / "reports" / "figures" / "08_beyond_the_mirror"
    assert {p.name for p in figures.rglob("*.png")} == {"mirror_chapters.png", "preference_utilisation.png",
                                                       "tariff_did.png", "services_by_type.png"}
    for path in [target, *tmp_path.rglob("*.json"), *tmp_path.rglob("*.txt")]:  # no key or token anywhere
        assert TOKEN not in path.read_text(errors="ignore") and BEA_KEY not in path.read_text(errors="ignore"), path
