"""The product store: hive layout, atomic partition writes, validated results, the HS2 round
trip against the processed table, the autos split, DuckDB's limits.

Frames built here are small SYNTHETIC product tables (labelled so in their ``source``)."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from korus_research import config, io
from korus_research import decomposition as d
from korus_research import productstore as ps
from korus_research.errors import DataError, ParameterError
from korus_research.productstore import ProductStore

SOURCE = "SYNTHETIC-TEST"


def _lines(codes=("870321", "870899", "850440"), partners=("KOR", "WLD"), years=(2011, 2016),
           flows=("import", "export"), months=range(1, 13), seed=0) -> pd.DataFrame:
    """SYNTHETIC product lines: every code x partner x year x flow x month, whole dollars."""
    idx = pd.MultiIndex.from_product([flows, years, months, partners, codes],
                                     names=["flow", "year", "month", "partner", "code"])
    frame = idx.to_frame(index=False)
    rng = np.random.default_rng(seed)
    frame["value_usd"] = rng.integers(1_000, 1_000_000, len(frame)).astype(float)
    frame["source"] = SOURCE
    return frame


def _footer(path) -> dict:
    return json.loads(pq.read_metadata(path).metadata[b"korus_product_store"])


def test_partitioned_layout(tmp_path):
    store = ProductStore(tmp_path)
    written = store.write(_lines(), level="HS6")
    assert sorted(str(p.relative_to(tmp_path)) for p in store.files()) == [
        f"flow={f}/year={y}/part-HS6.parquet" for f in ("export", "import") for y in (2011, 2016)]
    assert set(written["rows"]) == {2 * 3 * 12}
    info = _footer(tmp_path / "flow=import" / "year=2016" / "part-HS6.parquet")
    assert (info["level"], info["frequency"], info["partners"], info["months"]) == ("HS6", "monthly", ["KOR", "WLD"],
                                                                                   list(range(1, 13)))
    # any DuckDB reads the layout back as hive partitions; flow and year come from the path
    back = duckdb.sql(f"SELECT flow, year, count(*) AS n, sum(value_usd) AS v FROM read_parquet("
                      f"'{tmp_path}/*/*/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY ALL").df()
    expected = _lines().groupby(["flow", "year"], as_index=False).agg(n=("value_usd", "size"), v=("value_usd", "sum"))
    np.testing.assert_array_equal(back[["n", "v"]].to_numpy(), expected[["n", "v"]].to_numpy())
    assert "flow" not in pq.read_schema(store.files()[0]).names  # the partition key is in the path only
    levels = store.levels()
    assert list(levels.index) == ["HS6"] and levels.loc["HS6", "rows"] == len(_lines())
    assert levels.loc["HS6", "first_year"] == 2011 and levels.loc["HS6", "sources"] == SOURCE
    # a second level sits beside the first in the same partitions, untouched by it
    hs2 = _lines().assign(code=lambda f: f["code"].str[:2]).groupby(
        ["flow", "year", "month", "partner", "code", "source"], as_index=False)["value_usd"].sum()
    store.write(hs2, level="HS2")
    assert list(store.levels().index) == ["HS2", "HS6"] and len(store.files()) == 8


def test_aggregate_levels_and_frequencies(tmp_path):
    store = ProductStore(tmp_path)
    lines = _lines()
    store.write(lines, level="HS6")
    monthly = store.aggregate("HS4", partners=["KOR"], frequency="monthly")
    assert list(monthly.columns) == ["flow", "year", "month", "partner", "code", "value_usd", "lines"]
    annual = store.aggregate("HS2", partners="KOR", years=2016, flows="import")
    truth = lines[(lines["partner"] == "KOR") & (lines["year"] == 2016) & (lines["flow"] == "import")]
    truth = truth.groupby(truth["code"].str[:2])["value_usd"].sum()
    assert annual.set_index("code")["value_usd"].to_dict() == truth.to_dict()
    assert annual["lines"].tolist() == [12, 24] and annual.attrs["source_level"] == "HS6"
    # the finest level that covers the request is read; one level per result (no double counting)
    store.write(lines[lines["partner"] == "KOR"].assign(code=lambda f: f["code"] + "0000"), level="HS10")
    assert store.aggregate("HS2", partners=["KOR"]).attrs["source_level"] == "HS10"
    assert store.aggregate("HS2", partners=["KOR", "WLD"]).attrs["source_level"] == "HS6"  # WLD: no HS10
    with pytest.raises(DataError, match=r"no stored level covers HS2 x annual .*years 2011, 2012 \(HS10: no file for import/2012"):
        store.aggregate("HS2", years=[2011, 2012])
    with pytest.raises(ParameterError, match="parameter frequency='weekly'"):
        store.aggregate("HS2", frequency="weekly")
    annual_only = ProductStore(tmp_path / "annual")
    annual_only.write(lines.groupby(["flow", "year", "partner", "code", "source"], as_index=False)["value_usd"].sum(),
                      level="HS6")
    with pytest.raises(DataError, match="no stored level covers HS2 x monthly"):
        annual_only.aggregate("HS2", frequency="monthly")


def test_atomic_partition_rewrite(tmp_path, snap, monkeypatch):
    store = ProductStore(tmp_path)
    store.write(_lines(), level="HS6")
    before = snap(tmp_path)
    partitions = {k: v for k, v in before.items() if k.startswith("flow=")}

    def failing():  # the second chunk never arrives
        yield _lines(seed=1)
        raise OSError("connection reset while fetching")

    with pytest.raises(OSError, match="connection reset"):
        store.write(failing(), level="HS6")
    with pytest.raises(DataError, match=r"field 'code'.*rows: KOR/8703/2011/1/import"):
        store.write([_lines(seed=1), _lines(seed=2).assign(code=lambda f: f["code"].str[:4])], level="HS6")
    for chunks in ([pd.concat([_lines(seed=1), _lines(seed=1).iloc[:1]])],  # in one chunk
                   [_lines(seed=1), _lines(seed=1).iloc[:1]]):  # across chunks
        with pytest.raises(DataError, match=r"flow=import/year=2011/part-HS6.parquet\): field 'partner\+code\+month': "
                           r"duplicated key in the lines written; rows: KOR/870321/1$"):
            store.write(chunks, level="HS6")
    after = snap(tmp_path)
    assert {k: v for k, v in after.items() if k.startswith("flow=")} == partitions
    assert not list(tmp_path.rglob("*.partial")) and not (tmp_path / ".staging").exists()

    # a failure while moving the new files into place: each partition is old or new, never half
    real = config.publish
    calls = []

    def publish_then_fail(tmp, dest):
        calls.append(dest)
        if len(calls) == 2:
            raise OSError("disk full")
        real(tmp, dest)

    monkeypatch.setattr(config, "publish", publish_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.write(_lines(seed=3), level="HS6")
    monkeypatch.setattr(config, "publish", real)
    changed = {k for k, v in snap(tmp_path).items() if k.startswith("flow=") and partitions[k] != v}
    assert changed == {str(calls[0].relative_to(tmp_path))}
    assert not list(tmp_path.rglob("*.partial"))
    new = pq.read_table(calls[0]).to_pandas()
    assert new["value_usd"].sum() == _lines(seed=3).query("flow == 'export' and year == 2011")["value_usd"].sum()


def test_merge_replaces_partners_and_replace_the_partition(tmp_path):
    store = ProductStore(tmp_path)
    store.write(_lines(partners=("KOR", "WLD")), level="HS6")
    store.write(_lines(partners=("JPN",), seed=4), level="HS6")  # merge: KOR, WLD kept
    assert store.inventory()["partners"].map(sorted).map(tuple).unique().tolist() == [("JPN", "KOR", "WLD")]
    fresh = _lines(partners=("KOR",), seed=5)
    store.write(fresh, level="HS6")  # KOR's lines replaced, not added
    kor = store.aggregate("HS6", partners=["KOR"])
    assert kor["value_usd"].sum() == fresh["value_usd"].sum()
    store.write(fresh, level="HS6", mode="replace")
    assert store.inventory()["partners"].map(sorted).map(tuple).unique().tolist() == [("KOR",)]
    with pytest.raises(DataError, match="mix annual and monthly"):
        store.write(_lines(partners=("CHN",)).drop(columns="month").drop_duplicates(
            ["flow", "year", "partner", "code"]), level="HS6")


def _corrupt(path, column, row, value):
    """Edit one stored line behind the store's back, keeping the footer (a damaged partition)."""
    table = pq.read_table(path)
    frame = table.to_pandas()
    frame.loc[row, column] = value
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata),
                   path)


def test_query_results_are_validated(tmp_path):
    store = ProductStore(tmp_path)
    store.write(_lines(), level="HS6")
    ok = store.query("SELECT flow, year, partner, left(code, 2) AS code, sum(value_usd) AS value_usd "
                     "FROM products GROUP BY ALL")
    assert len(ok) == 2 * 2 * 2 * 2
    path = tmp_path / "flow=import" / "year=2016" / "part-HS6.parquet"
    _corrupt(path, "value_usd", 7, -5.0)
    # the sum of the partition is still positive: the line-level guards find the bad line
    with pytest.raises(DataError) as err:
        store.aggregate("HS2")
    assert err.value.field == "value_usd" and err.value.rows == [7]
    assert str(tmp_path) in err.value.file and "flow=import/year=2016/part-HS6.parquet" in err.value.file
    with pytest.raises(DataError, match=r"product store .*query result: field 'value_usd'.*rows: \d+"):
        store.query("SELECT * FROM products")
    _corrupt(path, "value_usd", 7, 1.0)
    _corrupt(path, "code", 3, "87A3")
    with pytest.raises(DataError) as err:
        store.aggregate("HS4", partners=["KOR", "WLD"])
    assert err.value.field == "code" and err.value.rows == [3] and "part-HS6" in err.value.file
    (tmp_path / "flow=export" / "year=2011" / "part-HS6.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(DataError, match="footer"):
        store.aggregate("HS2")


def test_hs2_round_trip_equals_the_processed_table(tmp_path):
    if not io.table_path("comtrade_hs2").exists():
        pytest.skip("comtrade_hs2 not built (make processed)")
    comtrade = io.read_table("comtrade_hs2")
    store = ProductStore(tmp_path)
    ps.load_comtrade_hs2(store, comtrade)
    levels = store.levels()
    assert list(levels.index) == ["HS2"] and levels.loc["HS2", "rows"] == comtrade["hs2"].notna().sum()
    for grouping in ("named", "section", "chapter"):
        panel, world = ps.decomposition_inputs(store, "KOR", grouping)
        # the inputs built today from the processed table, to the dollar (exactly here)
        pd.testing.assert_frame_equal(panel, d.comtrade_panel(comtrade, "KOR", grouping), check_exact=True)
        pd.testing.assert_frame_equal(world, d.world_panel(comtrade, grouping), check_exact=True)
    assert panel.attrs["source_level"] == "HS2" and panel.attrs["sources"] == ["comtrade-2015", "comtrade-2020"]
    # the whole table, every flow, is in the store
    totals = store.query("SELECT flow, year, sum(value_usd) AS value_usd FROM products GROUP BY ALL ORDER BY ALL")
    expected = comtrade.groupby(["flow", "year"], as_index=False)["value_usd"].sum()
    np.testing.assert_allclose(totals["value_usd"], expected["value_usd"], rtol=0, atol=0.5)
    autos = store.autos(partners=["KOR"], years=[2011, 2016], flows=["import"])
    assert not autos.attrs["split"] and autos.attrs["detail"] == "HS2" and "chapter 87 only" in autos.attrs["note"]
    ch87 = comtrade[(comtrade["partner_key"] == "KOR") & (comtrade["hs2"] == "87") & (comtrade["flow"] == "import")]
    assert autos["value_usd"].tolist() == ch87.set_index("year").loc[[2011, 2016], "value_usd"].tolist()


def test_synthetic_expanded_lines_are_never_study_inputs(tmp_path):
    store = ProductStore(tmp_path)
    store.write(_lines(codes=("87", "85")), level="HS2", mode="replace")
    panel, _ = ps.decomposition_inputs(store, "KOR", "chapter")
    assert set(panel["group"]) == {"ch. 85", "ch. 87"}
    store.write(_lines(codes=("87", "85")).assign(source=ps.SYNTHETIC_EXPANDED), level="HS2")
    with pytest.raises(DataError, match="SYNTHETIC-EXPANDED"):
        ps.decomposition_inputs(store, "KOR")
    assert len(ps.decomposition_inputs(store, "KOR", allow_synthetic=True)[0]) == 2 * 2


def test_autos_split_at_hs4(tmp_path):
    codes = ("8703", "8708", "8701", "8711", "8704", "8501", "4011")
    lines = _lines(codes=codes, partners=("KOR", "JPN", "WLD"), months=[None]).drop(columns="month")
    store = ProductStore(tmp_path)
    store.write(lines, level="HS4")
    autos = store.autos(partners=["KOR", "JPN"])
    assert autos.attrs["split"] and autos.attrs["detail"] == "HS4"
    assert set(autos["group"]) == {ps.CARS, ps.PARTS, ps.REST_OF_87}
    wide = autos.pivot_table(index=["flow", "year", "partner"], columns="group", values="value_usd")
    chapter = store.aggregate("HS2", partners=["KOR", "JPN"], codes=["87"]).set_index(["flow", "year", "partner"])
    # cars + parts + rest = chapter 87, exactly (whole dollars)
    parts_sum = wide[ps.CARS] + wide[ps.PARTS] + wide[ps.REST_OF_87]
    np.testing.assert_array_equal(parts_sum.to_numpy(), chapter["value_usd"].reindex(wide.index).to_numpy())
    sub = lines[(lines["partner"] == "KOR") & (lines["year"] == 2016) & (lines["flow"] == "import")].set_index("code")
    assert wide.loc[("import", 2016, "KOR"), ps.CARS] == sub.loc["8703", "value_usd"]
    assert wide.loc[("import", 2016, "KOR"), ps.REST_OF_87] == sub.loc[["8701", "8711", "8704"], "value_usd"].sum()
    # split=False, or only HS2 held: chapter 87 only, and the result says so
    assert set(store.autos(split=False)["group"]) == {ps.CHAPTER_87}
    hs2 = ProductStore(tmp_path / "hs2")
    hs2.write(lines.assign(code=lines["code"].str[:2]).groupby(["flow", "year", "partner", "code", "source"],
                                                               as_index=False)["value_usd"].sum(), level="HS2")
    only = hs2.autos(partners=["KOR"])
    assert not only.attrs["split"] and only.attrs["detail"] == "HS2" and set(only["group"]) == {ps.CHAPTER_87}
    assert only["value_usd"].sum() == autos.loc[autos["partner"] == "KOR", "value_usd"].sum()


def test_memory_limit_threads_and_spill_folder(tmp_path):
    store = ProductStore(tmp_path, memory_limit="512MiB", threads=1)
    settings = store.settings()
    assert settings["memory_limit"] == "512.0 MiB" and settings["threads"] == 1
    assert settings["temp_directory"] == str(tmp_path / ".duckdb-tmp")
    assert ProductStore(tmp_path / "default").settings()["memory_limit"] == "1.0 GiB"
    # the limit binds: a query needing more than it fails rather than growing the process
    tight = ProductStore(tmp_path / "tight", memory_limit="20MiB", threads=1)
    tight.con.execute("SET temp_directory = ''")  # no spilling allowed
    with pytest.raises(duckdb.OutOfMemoryException):
        tight.con.execute("SELECT list(range) FROM range(10000000)").fetchall()


def test_benchmark_expansion_keeps_the_real_totals(tmp_path):
    """bench_store's generator: whole-dollar lines that add up exactly to each HS2 total."""
    from korus_research import bench_store

    # SYNTHETIC stand-in for the comtrade_hs2 panel (the benchmark expands the real one)
    panel = pd.DataFrame({"flow": ["import", "import", "export", "re_export"], "year": [2016, 2016, 2016, 2016],
                          "partner_key": ["KOR", "WLD", "KOR", "KOR"], "hs2": ["87", "87", "85", "85"],
                          "basis": ["CIF", "CIF", "FOB", "FOB"], "value_usd": [17_000_000.0, 2.9e11, 1234.0, 5.0]})
    rows = bench_store.source_rows(panel)
    n_lines = bench_store.lines_per_row(rows["value"].to_numpy(), 3_000)
    frames = list(bench_store.chunks(rows, n_lines, seed=7, max_rows=1_000))
    lines = pd.concat(frames, ignore_index=True)
    assert len(frames) > 1 and abs(len(lines) - 3_000) < 3_000 * 0.05
    assert (lines["source"] == ps.SYNTHETIC_EXPANDED).all() and (lines["value_usd"] % 1 == 0).all()
    totals = lines.groupby(["flow", "partner", lines["code"].str[:2]])["value_usd"].sum()
    assert totals.tolist() == rows.set_index(["flow", "partner", "hs2"])["value"].loc[totals.index].tolist()
    again = pd.concat(bench_store.chunks(rows, n_lines, seed=7, max_rows=1_000), ignore_index=True)
    pd.testing.assert_frame_equal(lines, again)  # seeded: the same table every run
    store = ProductStore(tmp_path)
    store.write(iter(frames), level="HS10")  # valid lines, unique keys
    autos = store.autos(partners=["KOR", "WLD"], years=2016, flows=["import"])
    assert autos.attrs["split"] and autos["value_usd"].sum() == 17_000_000 + 2.9e11
