"""Notebook 02 at whatever detail the product store holds.

Two stores are built in ``tmp_path`` from the real HS2 panel (the processed ``comtrade_hs2``
table, loaded by :func:`korus_research.productstore.study_store`); the second also holds an HS10
extract of Korea's automotive lines in the Census API's answer layout
(``tests/data/recorded/census/*_hs10_*_annual.json``: SYNTHETIC values, see the README there),
parsed by the Census client and written with :func:`korus_research.productstore.load_census_api`.
Notebook 02 runs with papermill on each (``KORUS_PRODUCT_STORE``; processed tables linked into a
temporary ``KORUS_DATA_PROCESSED`` so that its results and figures stay in ``tmp_path``):

- on the HS2 store its outputs are the committed ones (the nbval baseline), text and figures;
- on the HS10 store the autos are split into cars (HS 8703) and parts (HS 8708), with the values
  of the extract, and everything before that section is unchanged but for the line saying which
  detail the store holds.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from korus_research import census_api, config, io
from korus_research import decomposition as d
from korus_research import productstore as ps
from korus_research.errors import DataError

RECORDED = Path(__file__).parent / "data" / "recorded" / "census"
NOTEBOOK = config.notebooks_dir() / "02_decomposition.ipynb"
YEARS = (2011, 2016)
DETAIL_LINE = "Product detail in the store:"


def hs10_extract() -> pd.DataFrame:
    """The recorded HS10 answers (SYNTHETIC values), parsed by the Census client as fetched."""
    frames = []
    for flow in ("import", "export"):
        for year in YEARS:
            payload = json.loads((RECORDED / f"{flow}s_hs10_{year}_annual.json").read_text())
            query = census_api.trade_query(flow, "HS10", year)
            frames.append(census_api.parse_trade(payload, query, flow, "HS10", "annual", year, "KOR"))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    if not io.table_path("comtrade_hs2").exists():
        pytest.skip("comtrade_hs2 not built (make processed)")
    root = tmp_path_factory.mktemp("stores")
    hs2 = ps.study_store(root / "hs2")
    shutil.copytree(hs2.root, root / "hs10", ignore=shutil.ignore_patterns(".duckdb-tmp", "*.lock"))
    hs10 = ps.ProductStore(root / "hs10")
    ps.load_census_api(hs10, hs10_extract())
    return hs2, hs10


def _sanitize(text: str) -> str:
    """What nbval's sanitize file replaces (tests/nbval_sanitize.cfg)."""
    text = re.sub(r"0x[0-9a-fA-F]+", "0xADDRESS", text)
    return re.sub(r"<Figure size \d+x\d+ with \d+ Axes>", "<Figure>", text)


def outputs(path: Path) -> list[list[tuple[str, str]]]:
    """Every code cell's outputs as (kind, content), sanitized; the parameters cell left out."""
    nb = json.loads(Path(path).read_text())
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
            continue
        out = []
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                out.append((o["name"], _sanitize("".join(o["text"]))))
            elif o["output_type"] == "error":
                out.append(("error", f"{o['ename']}: {o['evalue']}"))
            else:
                for kind, value in sorted(o.get("data", {}).items()):
                    out.append((kind, _sanitize("".join(value) if isinstance(value, list) else value)))
        cells.append(out)
    return cells


def run_02(tmp: Path, store: ps.ProductStore, monkeypatch) -> Path:
    import papermill as pm

    processed = tmp / "processed"
    processed.mkdir(parents=True)
    for table in config.data_processed().glob("*.parquet"):
        (processed / table.name).symlink_to(table)
    for name, value in {"KORUS_DATA_PROCESSED": processed, "KORUS_REPORTS": tmp / "reports",
                        ps.ROOT_VARIABLE: store.root, "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("KORUS_STUDY_SCOPE", raising=False)
    target = tmp / "02_decomposition.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(target), cwd=str(config.notebooks_dir()), kernel_name="python3",
                        progress_bar=False)
    return target


def test_offline_run_equals_the_committed_outputs(stores, tmp_path, monkeypatch):
    hs2, _ = stores
    assert list(hs2.levels().index) == ["HS2"]
    ran = outputs(run_02(tmp_path, hs2, monkeypatch))
    committed = outputs(NOTEBOOK)
    assert len(ran) == len(committed)
    for number, (new, old) in enumerate(zip(ran, committed, strict=True)):
        assert new == old, f"code cell {number} differs from the committed outputs"
    text = "\n".join(v for cell in ran for k, v in cell if k == "stdout")
    assert text.count(DETAIL_LINE) == 1
    assert ("Product detail in the store: HS2 annual 2007-2019 (comtrade-2015, comtrade-2020). The chapters are read "
            "from its HS2 lines; autos stay one group (chapter 87)") in text
    assert "cars (HS 8703)" not in "\n".join(v for cell in ran for _, v in cell)


def test_hs10_detail_splits_cars_and_parts(stores, tmp_path, monkeypatch):
    _, hs10 = stores
    assert list(hs10.levels().index) == ["HS2", "HS10"]
    ran = outputs(run_02(tmp_path, hs10, monkeypatch))
    committed = outputs(NOTEBOOK)
    text = "\n".join(v for cell in ran for _, v in cell)
    assert "autos are split into cars (HS 8703), parts (HS 8708) and the rest of chapter 87 from its HS10 lines" in text
    assert "Cars, parts and the rest of chapter 87" in text and "Chapter 87, change 2011-2016, on the two bases" in text
    assert "US Census Bureau, International Trade API (HS10 lines in the product store" in text
    # the decomposition itself still reads the mirror's chapters: the cells before the split are
    # unchanged but for the line on the store's detail
    split_at = next(i for i, cell in enumerate(ran) if any("Cars, parts and the rest" in v for _, v in cell))
    for number in range(split_at):
        new = [(k, "\n".join(x for x in v.splitlines() if not x.startswith(DETAIL_LINE))) for k, v in ran[number]]
        old = [(k, "\n".join(x for x in v.splitlines() if not x.startswith(DETAIL_LINE))) for k, v in committed[number]]
        assert new == old, f"code cell {number} changed"

    # the saved split has the extract's values (whole dollars, exactly)
    lines = hs10_extract()
    lines["year"] = lines["period"].astype(int)
    lines["group"] = lines["hs"].str[:4].map(ps.AUTOS_SPLIT).fillna(ps.REST_OF_87)
    value = lines.groupby(["group", "flow", "year"])["value_usd"].sum()
    saved = next((tmp_path / "processed" / "results").glob("KOR-*/decomposition_autos_split.parquet"))
    split = pd.read_parquet(saved).set_index("group")
    assert set(split.index) == {ps.CARS, ps.PARTS, ps.REST_OF_87, "total"}
    for group in (ps.CARS, ps.PARTS, ps.REST_OF_87):
        assert split.loc[group, "imports_change"] == value[group, "import", 2016] - value[group, "import", 2011]
        assert split.loc[group, "exports_change"] == value[group, "export", 2016] - value[group, "export", 2011]
    assert split.loc["total", "balance_change"] == split.drop(index="total")["balance_change"].sum()
    estimates = pd.read_parquet(saved.parent / "estimates_02.parquet").set_index("quantity")
    cars = estimates.loc["cars contribution to the autos balance change", "value"]
    assert cars == pytest.approx(split.loc[ps.CARS, "balance_change"] / 1e9)
    assert "Within autos (HS10 lines, Census basis)" in text


def test_load_census_api_checks_and_merges(tmp_path):
    store = ps.ProductStore(tmp_path)
    lines = hs10_extract()
    written = ps.load_census_api(store, lines)
    assert set(written["level"]) == {"HS10"} and written["rows"].sum() == len(lines)
    back = store.query("SELECT flow, year, partner, code, month, value_usd, basis, source FROM products "
                       "ORDER BY flow, year, code")
    assert set(back["basis"]) == {"customs value", "FAS"} and set(back["source"]) == {ps.CENSUS_SOURCE}
    assert back["month"].isna().all()
    assert back["value_usd"].sum() == lines["value_usd"].sum()
    # a second fetch of the same partner replaces its lines (merge), it does not add to them
    ps.load_census_api(store, lines.assign(value_usd=lines["value_usd"] * 2))
    assert store.query("SELECT sum(value_usd) AS v FROM products")["v"].iloc[0] == 2 * lines["value_usd"].sum()
    # monthly answers go in with their months; HS2 lines are refused (the mirror's level)
    monthly = lines[lines["flow"] == "import"].assign(period=lambda f: f["period"] + "-03", hs=lambda f: f["hs"].str[:6],
                                                     level="HS6")
    ps.load_census_api(store, monthly)
    assert store.levels().loc["HS6", "frequency"] == "monthly"
    with pytest.raises(DataError, match="field 'level'.*HS2 lines"):
        ps.load_census_api(store, lines.assign(hs=lines["hs"].str[:2], level="HS2").drop_duplicates(
            ["flow", "partner", "hs", "period"]))
    with pytest.raises(DataError, match="field 'value_usd'"):
        ps.load_census_api(store, lines.assign(value_usd=-1.0))


def test_study_store_loads_the_mirror_once_and_keeps_finer_detail(tmp_path, monkeypatch):
    if not io.table_path("comtrade_hs2").exists():
        pytest.skip("comtrade_hs2 not built (make processed)")
    # a small processed table: the real panel's rows for Korea and the world
    comtrade = io.read_table("comtrade_hs2")
    comtrade = comtrade[comtrade["partner_key"].isin(["KOR", "WLD"])].reset_index(drop=True)
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(tmp_path / "processed"))
    io.write_table("comtrade_hs2", comtrade)
    monkeypatch.setenv(ps.ROOT_VARIABLE, "relative/store")
    assert ps.default_root() == config.PROJECT_ROOT / "relative" / "store"
    monkeypatch.setenv(ps.ROOT_VARIABLE, str(tmp_path / "store"))
    store = ps.study_store()
    assert store.root == tmp_path / "store" and list(store.levels().index) == ["HS2"]
    marker = json.loads((store.root / ps.HS2_MARKER).read_text())
    assert marker["sha256"] == io.tables_read()["comtrade_hs2"] and marker["rows"] == len(comtrade)
    ps.load_census_api(store, hs10_extract())
    stamp = {p: p.stat().st_mtime_ns for p in store.files()}
    ps.study_store()  # nothing changed: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in store.files()} == stamp
    # HS2 lines changed behind the marker's back: reloaded from the table; the HS10 lines stay
    store.write(pd.DataFrame({"flow": ["import"], "year": [2011], "partner": ["KOR"], "code": ["87"],
                              "value_usd": [1.0], "source": ["SYNTHETIC-TEST"]}), level="HS2")
    ps.study_store()
    kor = ps.chapter_table(store, "KOR")
    for grouping in ("named", "chapter"):
        pd.testing.assert_frame_equal(d.comtrade_panel(kor, "KOR", grouping), d.comtrade_panel(comtrade, "KOR", grouping),
                                      check_exact=True)
    assert list(store.levels().index) == ["HS2", "HS10"] and kor.attrs["source_level"] == "HS2"
    # the table itself changed (another build): reloaded
    io.write_table("comtrade_hs2", comtrade[comtrade["year"] >= 2010])
    ps.study_store()
    assert store.levels().loc["HS2", "first_year"] == 2010
    # a partner absent from the store gets no rows (the notebook then skips its sections), not an error
    assert set(ps.chapter_table(store, "XXX")["partner_key"]) == {"WLD"}
    assert ps.autos_detail(store, "XXX", YEARS) is None and ps.autos_detail(store, "KOR", [2011, 2012]) is None
    # the benchmark's generated lines are never study inputs
    store.write(comtrade.head(0).pipe(lambda f: pd.DataFrame({
        "flow": ["import", "export"], "year": [2011, 2011], "partner": ["KOR", "KOR"], "code": ["8703000000"] * 2,
        "value_usd": [1.0, 1.0], "source": [ps.SYNTHETIC_EXPANDED] * 2})), level="HS10")
    with pytest.raises(DataError, match="SYNTHETIC-EXPANDED"):
        ps.autos_detail(store, "KOR", YEARS)


def test_autos_split_contributions_add_up_to_chapter_87(tmp_path):
    store = ps.ProductStore(tmp_path)
    ps.load_census_api(store, hs10_extract())
    autos = ps.autos_detail(store, "KOR", YEARS)
    assert autos is not None and ps.detail_basis(autos) == "Census basis"
    split = d.autos_split_contributions(autos, *YEARS)
    assert list(split.index) == [ps.CARS, ps.PARTS, ps.REST_OF_87, "total"]
    chapter = store.aggregate("HS2", partners=["KOR"], codes=["87"]).pivot_table(index="year", columns="flow",
                                                                                   values="value_usd")
    assert split.loc["total", "imports_change"] == chapter.loc[2016, "import"] - chapter.loc[2011, "import"]
    assert split.loc["total", "exports_change"] == chapter.loc[2016, "export"] - chapter.loc[2011, "export"]
    parts = split.drop(index="total")
    assert parts["balance_change"].sum() == split.loc["total", "balance_change"]  # whole dollars: exact
    assert parts["share_of_balance_change"].sum() == pytest.approx(1.0)
    sentence = d.autos_split_sentence(split, "KOR", *YEARS, "HS10 lines, Census basis")
    assert sentence.startswith("Within autos (HS10 lines, Census basis), the US balance with KOR changed by -7.2 bn")
    assert "cars (HS 8703) -5.7 bn (imports +6.9 bn, exports +1.2 bn)" in sentence
    with pytest.raises(DataError, match="no export lines"):
        d.autos_split_contributions(autos[autos["flow"] == "import"], *YEARS)
    with pytest.raises(DataError, match="one partner expected"):
        d.autos_split_contributions(pd.concat([autos, autos.assign(partner="JPN")]), *YEARS)
