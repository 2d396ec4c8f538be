"""An out-of-core store of product-level trade, kept as Parquet and queried with DuckDB.

Product-level tables (HS2, HS4, HS6 or HS10 lines x partner x month or year, by flow)
reach tens of millions of rows at HS10 x partner x month: more than a notebook should
load into pandas. The store keeps them on disk as Parquet in a hive layout partitioned by
flow and year, one file per partition and level::

    data/processed/products/flow=import/year=2016/part-HS2.parquet
    data/processed/products/flow=import/year=2016/part-HS10.parquet

and answers queries with DuckDB (``read_parquet(..., hive_partitioning=true)``) under an
explicit memory limit, thread count and spill folder (under the store), so only the
aggregated result ever reaches pandas. Every result crosses a pandera schema at the
boundary (:data:`AGGREGATE_COLUMNS`, checked by :meth:`ProductStore.aggregate`,
:meth:`ProductStore.autos` and :meth:`ProductStore.query`); a failure raises
:class:`~korus_research.errors.DataError` naming the store, the file, the column and the
rows.

Writes are atomic per partition: the new rows are staged, checked (schema, unique keys,
one frequency per partition), written to a temporary file beside the partition's file and
moved over it with :func:`os.replace` only once every partition of the write is ready. A
failed write leaves every old partition as it was. Each file carries its own summary in
the Parquet footer (level, frequency, months, partners, rows, sources), so the store
knows what detail it holds without reading the data (:meth:`ProductStore.levels`).

Offline, :func:`load_comtrade_hs2` fills the store from the mirror's HS2 panel (the
processed ``comtrade_hs2`` table) at level HS2, and :func:`decomposition_inputs` gives
the frames :mod:`korus_research.decomposition` takes, equal to those built from the
processed table. With HS4 or finer detail in the store (after a fetch), the same calls run
on it, and :meth:`ProductStore.autos` splits chapter 87 into cars (HS 8703), parts
(HS 8708) and the rest.
"""

from __future__ import annotations

import gc
import json
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.parquet as pq
from pandera.pandas import Check, Column, DataFrameSchema

from . import config
from .errors import DataError, ParameterError

#: Levels of detail the store holds: name -> digits of the HS (or HTS/Schedule B) code.
LEVELS: dict[str, int] = {"HS2": 2, "HS4": 4, "HS6": 6, "HS10": 10}
#: Trade flows (the partition key ``flow``), as in the processed tables.
FLOWS: tuple[str, ...] = ("import", "export", "re_export")
FREQUENCIES: tuple[str, ...] = ("annual", "monthly")
#: Label of the benchmark's generated rows (``source`` column): never study data.
SYNTHETIC_EXPANDED = "SYNTHETIC-EXPANDED"
#: The groups of :meth:`ProductStore.autos`.
CARS, PARTS, REST_OF_87, CHAPTER_87 = ("cars (HS 8703)", "parts (HS 8708)",
                                       "rest of chapter 87", "chapter 87 (autos, not split)")
AUTOS_SPLIT = {"8703": CARS, "8708": PARTS}

#: Columns stored in each partition file (``flow`` and ``year`` are in the path).
FILE_COLUMNS = ("level", "partner", "code", "month", "value_usd", "basis", "source")
_STAGED = pa.schema([
    ("partner", pa.string()), ("code", pa.string()), ("month", pa.int8()),
    ("value_usd", pa.float64()), ("basis", pa.string()), ("source", pa.string()),
])
_INPUT_REQUIRED = ("flow", "year", "partner", "code", "value_usd")
_INPUT_OPTIONAL = ("month", "basis", "source")
_META_KEY = "korus_product_store"
_FILE_GLOB = "flow=*/year=*/part-*.parquet"
_HIVE = "hive_partitioning=true, hive_types={'flow': VARCHAR, 'year': INTEGER}"


#: Environment variable naming another product store (a relative path is taken from the
#: project root), e.g. a store holding fetched HS10 lines beside the mirror's HS2 panel.
ROOT_VARIABLE = "KORUS_PRODUCT_STORE"


def default_root() -> Path:
    """The study's product store: ``$KORUS_PRODUCT_STORE`` when set, else
    ``data/processed/products``."""
    return config._from_env(ROOT_VARIABLE, config.data_processed() / "products")


# ---------------------------------------------------------------------------------------
# schemas (pandera): the lines written, and every result read


def _codes_of_length(digits: int | None):
    """Vectorised check that codes are strings of ``digits`` digits (any level when None).

    The pattern is matched once per distinct code and the answer broadcast, which keeps the
    check fast on millions of lines that repeat a few thousand codes.
    """
    pattern = rf"\d{{{digits}}}" if digits else r"\d{2}(?:\d{2}(?:\d{2}(?:\d{4})?)?)?"

    def check(codes: pd.Series) -> pd.Series:
        distinct = pd.Series(codes.dropna().unique())
        good = distinct[distinct.map(lambda c: isinstance(c, str)) & distinct.astype(str).str.fullmatch(pattern)]
        return codes.isin(good)

    return Check(check, error=f"code is not a string of {digits or '2, 4, 6 or 10'} digits")


def _in_set(values: Sequence[str], name: str):
    """Vectorised membership check (once per distinct value, as :func:`_codes_of_length`)."""
    allowed = set(values)

    def check(series: pd.Series) -> pd.Series:
        distinct = pd.Series(series.dropna().unique())
        return series.isin(distinct[distinct.isin(allowed)])

    return Check(check, error=f"{name} not in {sorted(allowed)}")


def _nonempty():
    def check(series: pd.Series) -> pd.Series:
        distinct = pd.Series(series.dropna().unique())
        good = distinct[distinct.map(lambda v: isinstance(v, str) and v.strip() != "")]
        return series.isin(good)

    return Check(check, error="empty or non-string value")


def _strings():
    """Every value a string (checked per distinct value; pandera's ``str`` dtype check calls
    Python once per line, seconds on a chunk of millions)."""
    def check(series: pd.Series) -> pd.Series:
        distinct = pd.Series(series.dropna().unique())
        return series.isin(distinct[distinct.map(lambda v: isinstance(v, str))]) | series.isna()

    return Check(check, error="not a string")


def lines_schema(level: str) -> DataFrameSchema:
    """Schema of the product lines written at ``level`` (one row per flow, year, month,
    partner and code; ``month`` missing for annual data). The key's uniqueness is checked
    per partition over every chunk of a write (:meth:`ProductStore.write`)."""
    return DataFrameSchema(
        {
            # text columns: dtype object, each distinct value checked to be a string
            "flow": Column(None, _in_set(FLOWS, "flow")),
            "year": Column("int64", Check.in_range(1950, 2100), coerce=True),
            "month": Column("Int8", Check.in_range(1, 12), nullable=True, coerce=True),
            "partner": Column(None, _nonempty()),
            "code": Column(None, _codes_of_length(LEVELS[level])),
            "value_usd": Column("float64", [Check.ge(0), Check(np.isfinite, error="not finite")], coerce=True),
            "basis": Column(None, _strings(), nullable=True),
            "source": Column(None, _nonempty()),
        },
        # keys are checked unique per partition, across all the chunks of a write, in DuckDB
        strict=True, ordered=False, name=f"product lines ({level})",
    )


#: Columns of the aggregated results, with their checks. ``min_line_usd`` and the
#: ``bad_*_lines`` counts are guards computed over the lines summed into each row (a corrupt
#: partition shows there even when a sum would hide it); they are dropped once checked.
AGGREGATE_COLUMNS: dict[str, Column] = {
    "flow": Column(None, _in_set(FLOWS, "flow")),  # text: each distinct value checked to be a string
    "year": Column("int64", Check.in_range(1950, 2100)),
    "month": Column("int64", Check.in_range(1, 12)),
    "partner": Column(None, _nonempty()),
    "code": Column(None, _codes_of_length(None)),
    "group": Column(None, _nonempty()),
    "value_usd": Column("float64", [Check.ge(0), Check(np.isfinite, error="not finite")]),
    "lines": Column("int64", Check.ge(1)),
    "min_line_usd": Column("float64", Check.ge(0), nullable=False),
    "bad_value_lines": Column("int64", Check.eq(0)),
    "bad_code_lines": Column("int64", Check.eq(0)),
    "bad_month_lines": Column("int64", Check.eq(0)),
    "bad_level_lines": Column("int64", Check.eq(0)),
}
_GUARDS = {"min_line_usd": "value_usd", "bad_value_lines": "value_usd", "bad_code_lines": "code",
           "bad_month_lines": "month", "bad_level_lines": "level"}


def aggregate_schema(columns: Sequence[str], keys: Sequence[str], level: str | None = None) -> DataFrameSchema:
    """Schema of an aggregated result with ``columns`` (unique on ``keys``); codes must
    have the digits of ``level`` when it is given."""
    spec = {c: AGGREGATE_COLUMNS[c] for c in columns}
    if level is not None and "code" in spec:
        spec["code"] = Column(None, _codes_of_length(LEVELS[level]))
    return DataFrameSchema(spec, unique=list(keys), strict=True, name="product store aggregate")


def _query_schema(frame: pd.DataFrame) -> DataFrameSchema:
    """Checks for whichever known columns a free query returns (values only, not dtypes)."""
    known = {**{c: AGGREGATE_COLUMNS[c] for c in ("flow", "year", "partner", "code", "value_usd")},
             "month": Column(None, Check.in_range(1, 12), nullable=True),
             "level": Column(None, _in_set(LEVELS, "level")),
             "source": Column(str, _nonempty())}
    spec = {}
    for name in frame.columns:
        if name in known:
            column = known[name]
            spec[name] = Column(None, column.checks, nullable=column.nullable)
    return DataFrameSchema(spec, strict=False, name="product store query")


def _schema_error(exc: pandera.errors.SchemaErrors, frame: pd.DataFrame, where: str,
                  keys: Sequence[str] = ()) -> DataError:
    """The first failure of a pandera validation as a DataError naming the column and rows
    (as key values ``KOR/87/2016/import`` when ``keys`` are given, else positions)."""
    cases = exc.failure_cases.copy()
    cases["_order"] = (cases["schema_context"] != "Column").astype(int)
    first = cases.sort_values("_order", kind="stable").iloc[0]
    check = str(first["check"])
    if check in ("column_in_dataframe", "column_in_schema"):
        names = cases.loc[cases["check"] == check, "failure_case"].astype(str).tolist()
        what = "missing" if check == "column_in_dataframe" else "unexpected"
        return DataError(where, names[0], f"{what} column(s) {names}")
    if first["schema_context"] == "Column":
        column = str(first["column"])
        sub = cases[(cases["column"].astype(str) == column) & (cases["schema_context"] == "Column")]
    else:
        column = "+".join(keys) if check == "multiple_fields_uniqueness" else check
        sub = cases[cases["check"] == first["check"]]
    positions = sorted({int(i) for i in sub["index"].dropna()})
    checks = "; ".join(sorted({str(c) for c in sub["check"]}))[:300]
    problem = "duplicated key" if check == "multiple_fields_uniqueness" else f"failed {checks}"
    present = [k for k in keys if k in frame.columns]
    if present and positions:
        rows = frame.iloc[positions][present].astype(str).agg("/".join, axis=1).tolist()
    else:
        rows = positions
    return DataError(where, _GUARDS.get(column, column), problem, rows)


# ---------------------------------------------------------------------------------------
# the store


@dataclass
class _Partition:
    """One (flow, year) partition of a write being staged (one Parquet file per chunk)."""

    flow: str
    year: int
    folder: Path
    files: int = 0
    rows: int = 0
    frequencies: set = field(default_factory=set)


class ProductStore:
    """Product-level trade as hive-partitioned Parquet, queried with DuckDB.

    Parameters
    ----------
    root : path, optional
        Folder of the store (default :func:`default_root`, ``data/processed/products``).
    memory_limit : str
        DuckDB's memory limit (``SET memory_limit``); spills go to ``<root>/.duckdb-tmp``.
    threads : int
        DuckDB's worker threads (``SET threads``).

    Examples
    --------
    >>> store = ProductStore("data/processed/products")           # doctest: +SKIP
    >>> store.write(frame, level="HS10", source="census-api-2026-01")  # doctest: +SKIP
    >>> store.levels()                                              # doctest: +SKIP
    >>> store.aggregate(level="HS2", partners=["KOR", "WLD"], years=[2011, 2016])  # doctest: +SKIP
    >>> store.autos(partners=["KOR"]).attrs["split"]                # doctest: +SKIP
    """

    def __init__(self, root: str | Path | None = None, memory_limit: str = "1GiB", threads: int = 2):
        self.root = Path(root) if root is not None else default_root()
        self.memory_limit = memory_limit
        self.threads = int(threads)
        self._con = None

    def __repr__(self) -> str:
        return f"ProductStore({str(self.root)!r})"

    @property
    def name(self) -> str:
        """How errors name the store."""
        return f"product store {self.root}"

    # -- DuckDB ------------------------------------------------------------------------
    @property
    def con(self):
        """The store's DuckDB connection (in memory), with its limits set explicitly."""
        if self._con is None:
            import duckdb

            tmp = self.root / ".duckdb-tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(":memory:")
            con.execute(f"SET memory_limit = {_literal(self.memory_limit)}")
            con.execute(f"SET threads = {self.threads}")
            con.execute(f"SET temp_directory = {_literal(str(tmp))}")
            # results need no insertion order: lets DuckDB stream and spill more freely
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            self._con = con
        return self._con

    def settings(self) -> dict:
        """DuckDB's settings as in force (read back from the connection)."""
        names = ("memory_limit", "threads", "temp_directory", "preserve_insertion_order")
        row = self.con.execute(
            "SELECT " + ", ".join(f"current_setting('{n}')" for n in names)).fetchone()
        return dict(zip(names, row, strict=True))

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> ProductStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what the store holds -----------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(self.root.glob(_FILE_GLOB))

    def inventory(self) -> pd.DataFrame:
        """One row per partition file, from the Parquet footers (no data read): ``flow,
        year, level, frequency, months, partners, rows, sources, bases, value_usd, path``."""
        records = []
        for path in self.files():
            try:
                meta = pq.read_metadata(path).metadata or {}
                info = json.loads(meta[_META_KEY.encode()])
            except Exception as exc:  # unreadable footer or a file the store did not write
                raise DataError(f"{self.name} ({path.relative_to(self.root)})", "footer",
                                f"not a partition file of the store: {exc}") from None
            records.append({**{k: info[k] for k in ("flow", "year", "level", "frequency", "rows",
                                                    "value_usd")},
                            "months": tuple(info["months"]), "partners": frozenset(info["partners"]),
                            "sources": tuple(info["sources"]), "bases": tuple(info["bases"]),
                            "path": path})
        columns = ["flow", "year", "level", "frequency", "months", "partners", "rows", "sources",
                   "bases", "value_usd", "path"]
        return pd.DataFrame.from_records(records, columns=columns)

    def levels(self) -> pd.DataFrame:
        """The detail the store holds: one row per level (``HS2`` ... ``HS10``, coarsest
        first) with its frequencies, flows, years, number of partners, rows and sources."""
        inv = self.inventory()
        rows = []
        for level in sorted(inv["level"].unique(), key=LEVELS.get):
            sub = inv[inv["level"] == level]
            rows.append({
                "level": level,
                "frequency": ", ".join(sorted(sub["frequency"].unique())),
                "flows": ", ".join(f for f in FLOWS if f in set(sub["flow"])),
                "first_year": int(sub["year"].min()), "last_year": int(sub["year"].max()),
                "partners": len(frozenset().union(*sub["partners"])),
                "rows": int(sub["rows"].sum()),
                "sources": ", ".join(sorted(set().union(*map(set, sub["sources"])))),
            })
        out = pd.DataFrame(rows, columns=["level", "frequency", "flows", "first_year", "last_year",
                                          "partners", "rows", "sources"])
        return out.set_index("level")

    # -- writing ------------------------------------------------------------------------
    def write(self, data: pd.DataFrame | Iterable[pd.DataFrame], level: str, *,
              source: str | None = None, basis: str | None = None, mode: str = "merge") -> pd.DataFrame:
        """Write product lines at ``level``, atomically per (flow, year) partition.

        Parameters
        ----------
        data : DataFrame or iterable of DataFrames
            Columns ``flow, year, partner, code, value_usd`` and optionally ``month``
            (1-12; absent or missing for annual data), ``basis`` (CIF, FOB, customs, ...) and
            ``source`` (what the rows come from). An iterable is consumed chunk by chunk, so
            a table larger than memory can be written.
        level : {"HS2", "HS4", "HS6", "HS10"}
            Detail of the codes (their number of digits is checked).
        source, basis : str, optional
            Values for the ``source`` and ``basis`` columns when the frames lack them.
        mode : {"merge", "replace"}
            ``merge`` (default) replaces, in each partition written, the lines of the
            partners in ``data`` and keeps the other partners' lines at that level;
            ``replace`` replaces the partition's lines at that level whole. Other levels
            are never touched.

        Returns
        -------
        DataFrame
            One row per partition written: ``flow, year, level, frequency, rows, path``.

        Raises
        ------
        DataError
            When a chunk fails the schema (naming the column and rows), a key repeats, or
            annual and monthly lines would share a partition at one level. Nothing is
            replaced then: every partition keeps its old file.
        """
        level = _check_level(level)
        if mode not in ("merge", "replace"):
            raise ParameterError("mode", mode, ["merge", "replace"])
        chunks = [data] if isinstance(data, pd.DataFrame) else data
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / ".staging" / uuid.uuid4().hex
        parts: dict[tuple[str, int], _Partition] = {}
        ready: list[tuple[Path, Path, dict]] = []
        with config.file_lock(self.root / ".write.lock"):
            try:
                for number, chunk in enumerate(chunks):
                    lines = self._prepare(chunk, level, source, basis, number)
                    self._stage(lines, staging, parts, number)
                    del chunk, lines
                    _release_memory()
                for key in sorted(parts):
                    ready.append(self._finish(parts[key], level, mode))
                # every partition is built and checked: now move each into place (atomic)
                for tmp, final, _ in ready:
                    config.publish(tmp, final)
            finally:
                for tmp, _, _ in ready:
                    Path(tmp).unlink(missing_ok=True)
                shutil.rmtree(staging, ignore_errors=True)
                _remove_if_empty(staging.parent)
        return pd.DataFrame([{"flow": m["flow"], "year": m["year"], "level": level,
                              "frequency": m["frequency"], "rows": m["rows"], "path": final}
                             for _, final, m in ready],
                            columns=["flow", "year", "level", "frequency", "rows", "path"])

    def _prepare(self, chunk: pd.DataFrame, level: str, source: str | None, basis: str | None,
                 number: int) -> pd.DataFrame:
        where = f"{self.name}: write at {level}, chunk {number}"
        if not isinstance(chunk, pd.DataFrame):
            raise DataError(where, "data", f"expected a DataFrame, got {type(chunk).__name__}")
        missing = [c for c in _INPUT_REQUIRED if c not in chunk.columns]
        if missing:
            raise DataError(where, missing[0], f"missing column(s) {missing}")
        extra = [c for c in chunk.columns if c not in _INPUT_REQUIRED + _INPUT_OPTIONAL]
        if extra:
            raise DataError(where, str(extra[0]), f"unexpected column(s) {extra}; the store holds "
                            f"{list(_INPUT_REQUIRED + _INPUT_OPTIONAL)}")
        frame = chunk.reset_index(drop=True)
        if "month" not in frame.columns:
            frame = frame.assign(month=pd.Series(pd.NA, index=frame.index, dtype="Int8"))
        for name, default in (("source", source), ("basis", basis)):
            if name not in frame.columns:
                if default is None and name == "source":
                    raise DataError(where, "source", "no source column and no source= given")
                frame = frame.assign(**{name: default})
        try:
            frame = lines_schema(level).validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            raise _schema_error(exc, frame, where, ("partner", "code", "year", "month", "flow")) from None
        month = frame["month"]
        if month.isna().any() and month.notna().any():
            raise DataError(where, "month", "annual (no month) and monthly lines mixed in one chunk",
                            frame.index[month.isna()].tolist())
        return frame

    def _stage(self, lines: pd.DataFrame, staging: Path, parts: dict, number: int) -> None:
        """Write the chunk's lines of each partition to a staged file of their own."""
        monthly = bool(lines["month"].notna().any())
        if lines["flow"].nunique() == 1 and lines["year"].nunique() == 1:  # one partition: no copy
            pieces = [((lines["flow"].iloc[0], lines["year"].iloc[0]), lines)] if len(lines) else []
        else:
            pieces = lines.groupby(["flow", "year"], sort=False)
        for (flow, year), piece in pieces:
            key = (str(flow), int(year))
            part = parts.get(key)
            if part is None:
                folder = staging / f"flow={key[0]}" / f"year={key[1]}"
                folder.mkdir(parents=True, exist_ok=True)
                part = parts[key] = _Partition(key[0], key[1], folder)
            table = pa.Table.from_pandas(piece[list(_STAGED.names)], schema=_STAGED, preserve_index=False)
            pq.write_table(table, part.folder / f"chunk-{number:06d}.parquet", compression="lz4")
            part.files += 1
            part.rows += len(piece)
            part.frequencies.add("monthly" if monthly else "annual")

    def _finish(self, part: _Partition, level: str, mode: str) -> tuple[Path, Path, dict]:
        """Build the partition's new file beside the old one (not yet in place)."""
        folder = self.root / f"flow={part.flow}" / f"year={part.year}"
        final = folder / f"part-{level}.parquet"
        where = f"{self.name} ({final.relative_to(self.root)})"
        if len(part.frequencies) > 1:
            raise DataError(where, "month", "annual and monthly lines written to one partition")
        con = self.con
        cols = ", ".join(_STAGED.names)
        staged = _literal(str(part.folder / "chunk-*.parquet"))
        new = f"(SELECT {cols} FROM read_parquet({staged}, hive_partitioning=false))"
        dup = con.execute(
            f"SELECT partner, code, month, count(*) AS n FROM {new} GROUP BY ALL HAVING n > 1 "
            "ORDER BY partner, code, month LIMIT 20").fetchall()
        if dup:
            raise DataError(where, "partner+code+month", "duplicated key in the lines written",
                            [f"{p}/{c}/{'' if m is None else m}" for p, c, m, _ in dup])
        combined = f"SELECT {cols} FROM {new}"
        if mode == "merge" and final.exists():
            old = f"read_parquet({_literal(str(final))}, hive_partitioning=false)"
            combined += (f" UNION ALL SELECT {cols} FROM {old} "
                         f"WHERE partner NOT IN (SELECT DISTINCT partner FROM {new})")
        con.execute(f"CREATE OR REPLACE TEMP VIEW _combined AS {combined}")
        rows, annual, monthly, total, *lists = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE month IS NULL), count(month), sum(value_usd), "
            + ", ".join(f"list(DISTINCT {c} ORDER BY {c}) FILTER (WHERE {c} IS NOT NULL)"
                        for c in ("partner", "month", "source", "basis"))
            + " FROM _combined").fetchone()
        if annual and monthly:
            raise DataError(where, "month", f"this write would mix annual and monthly lines at {level} "
                            "(other partners' lines are of the other frequency): write with "
                            "mode='replace' or at one frequency")
        listed = dict(zip(("partner", "month", "source", "basis"), (v or [] for v in lists), strict=True))
        info = {"format": 1, "flow": part.flow, "year": part.year, "level": level,
                "frequency": "monthly" if monthly else "annual", "months": listed["month"],
                "partners": listed["partner"], "rows": int(rows), "sources": listed["source"],
                "bases": listed["basis"], "value_usd": float(total or 0.0),
                "written": datetime.now(UTC).isoformat(timespec="seconds")}
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".part-{level}.{uuid.uuid4().hex}.partial"
        con.execute(
            f"COPY (SELECT {_literal(level)} AS level, partner, code, month, value_usd, basis, source "
            f"FROM _combined ORDER BY partner, code, month) TO {_literal(str(tmp))} "
            f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{_META_KEY}: {_literal(json.dumps(info))}}})")
        con.execute("DROP VIEW _combined")
        return tmp, final, info

    # -- reading ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """Run ``sql`` on the view ``products`` (every line: ``flow, year, level, partner,
        code, month, value_usd, basis, source``) and return the result, validated.

        Whichever of the store's columns the result has are checked (flows, years, months,
        codes, values non-negative and finite, ...). Aggregate in SQL: the result, not the
        store, is loaded into pandas.
        """
        self._products_view()
        try:
            frame = self.con.execute(sql, params or []).df()
        except Exception as exc:  # DuckDB's errors (unreadable file, bad column) with the store named
            raise DataError(self.name, "query", f"{type(exc).__name__}: {exc}") from None
        try:
            return _query_schema(frame).validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            raise _schema_error(exc, frame, f"{self.name}: query result") from None

    def _products_view(self) -> None:
        files = self.files()
        if files:
            source = f"SELECT * FROM read_parquet({_file_list(files)}, {_HIVE})"
        else:
            source = ("SELECT NULL::VARCHAR AS level, NULL::VARCHAR AS partner, NULL::VARCHAR AS code, "
                      "NULL::TINYINT AS month, NULL::DOUBLE AS value_usd, NULL::VARCHAR AS basis, "
                      "NULL::VARCHAR AS source, NULL::VARCHAR AS flow, NULL::INTEGER AS year LIMIT 0")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW products AS {source}")

    def pick_level(self, level: str = "HS2", partners: Sequence[str] | None = None,
                   years: Iterable[int] | int | None = None, flows: Sequence[str] = ("import", "export"),
                   frequency: str = "annual") -> tuple[str, pd.DataFrame]:
        """The finest stored level at least as detailed as ``level`` that covers the request,
        and its files.

        Covering means: a file at that level (of that frequency, for ``monthly``) for every
        flow and year asked, and each partner asked present in every year asked. One level
        is read per result, so lines of two levels are never added together.

        Raises
        ------
        DataError
            When no level covers the request (the message says what the store holds).
        """
        level = _check_level(level)
        flows, years, partners, frequency = _selection(flows, years, partners, frequency)
        inv = self.inventory()
        sel = inv[inv["flow"].isin(flows)]
        if years is not None:
            sel = sel[sel["year"].isin(years)]
        wanted = years if years is not None else sorted(sel["year"].unique())
        if sel.empty or not wanted:
            raise DataError(self.name, "flow+year", f"no lines for flows {list(flows)}"
                            + (f", years {list(years)}" if years is not None else "")
                            + f"; the store holds: {self._holds(inv)}")
        candidates = sorted({lv for lv in sel["level"] if LEVELS[lv] >= LEVELS[level]}, key=LEVELS.get, reverse=True)
        reasons = []
        for candidate in candidates:
            files = sel[sel["level"] == candidate]
            if frequency == "monthly":
                files = files[files["frequency"] == "monthly"]
            have = set(zip(files["flow"], files["year"], strict=True))
            gaps = [f"{f}/{y}" for f in flows for y in wanted if (f, y) not in have]
            if gaps:
                reasons.append(f"{candidate}: no {'monthly ' if frequency == 'monthly' else ''}file for {_short(gaps)}")
                continue
            if partners:
                by_year = files.groupby("year")["partners"].agg(lambda s: frozenset().union(*s))
                absent = [f"{p}/{y}" for p in partners for y in wanted if p not in by_year.get(y, frozenset())]
                if absent:
                    reasons.append(f"{candidate}: partner-years absent {_short(absent)}")
                    continue
            return candidate, files.sort_values(["flow", "year"]).reset_index(drop=True)
        detail = "; ".join(reasons) if reasons else f"no level at {level} or finer"
        raise DataError(self.name, "level", f"no stored level covers {level} x {frequency} for flows "
                        f"{list(flows)}, years {_short([str(y) for y in wanted])}"
                        + (f", partners {list(partners)}" if partners else "")
                        + f" ({detail}); the store holds: {self._holds(inv)}")

    def aggregate(self, level: str = "HS2", partners: Sequence[str] | None = None,
                  years: Iterable[int] | int | None = None, flows: Sequence[str] = ("import", "export"),
                  frequency: str = "annual", codes: Sequence[str] | None = None,
                  source_level: str | None = None) -> pd.DataFrame:
        """Trade summed to ``level`` codes by flow, year (and month), partner, in DuckDB.

        Parameters
        ----------
        level : {"HS2", "HS4", "HS6", "HS10"}
            Detail of the result's codes (the first digits of the stored codes).
        partners, years : optional
            Restrict to these partners (keys as stored: ISO3, ``WLD``, ...) and years.
        flows : sequence of str
            Default imports and exports (the decomposition's).
        frequency : {"annual", "monthly"}
            ``annual`` sums the months of monthly lines; ``monthly`` needs monthly lines.
        codes : sequence of str, optional
            Keep only lines whose code starts with one of these (e.g. ``["87"]``).
        source_level : str, optional
            The stored level to read; default :meth:`pick_level` (the finest that covers
            the request).

        Returns
        -------
        DataFrame
            ``flow, year, [month,] partner, code, value_usd, lines`` (US$, the number of
            stored lines summed), checked against :func:`aggregate_schema`. ``attrs``:
            ``store, level, source_level, frequency, sources, bases, partial_years`` (years
            summed from fewer than 12 months).

        Raises
        ------
        DataError
            When no stored level covers the request, or a partition read is corrupt
            (naming the store, the file, the column and the rows).
        """
        level = _check_level(level)
        flows, years, partners, frequency = _selection(flows, years, partners, frequency)
        if source_level is None:
            source_level, files = self.pick_level(level, partners, years, flows, frequency)
        else:
            source_level = _check_level(source_level)
            if LEVELS[source_level] < LEVELS[level]:
                raise ParameterError("source_level", source_level, [lv for lv in LEVELS if LEVELS[lv] >= LEVELS[level]],
                                     f"coarser than the result's level {level}")
            inv = self.inventory()
            files = inv[(inv["level"] == source_level) & inv["flow"].isin(flows)
                        & (inv["year"].isin(years) if years is not None else True)]
            if files.empty:
                raise DataError(self.name, "level", f"no {source_level} lines for flows {list(flows)}"
                                f"; the store holds: {self._holds(inv)}")
        if frequency == "monthly" and (files["frequency"] != "monthly").any():
            raise DataError(self.name, "month", f"{source_level} lines of "
                            f"{_short([f'{f}/{y}' for f, y in files.loc[files['frequency'] != 'monthly', ['flow', 'year']].itertuples(index=False)])} are annual")
        by_month = frequency == "monthly"
        where, params = ["TRUE"], []
        if partners:
            where.append(f"partner IN ({', '.join('?' for _ in partners)})")
            params += list(partners)
        if codes:
            where.append("(" + " OR ".join("starts_with(code, ?)" for _ in codes) + ")")
            params += [str(c) for c in codes]
        digits, source_digits = LEVELS[level], LEVELS[source_level]
        keys = ["flow", "year"] + (["month"] if by_month else []) + ["partner", "code"]
        month_ok = "month BETWEEN 1 AND 12" if by_month else "TRUE"
        sql = f"""
            SELECT flow, CAST(year AS BIGINT) AS year,
                   {'CAST(month AS BIGINT) AS month,' if by_month else ''}
                   partner, left(code, {digits}) AS code,
                   sum(value_usd) AS value_usd, count(*) AS lines,
                   coalesce(min(value_usd), -1.0) AS min_line_usd,
                   count(*) FILTER (WHERE value_usd IS NULL OR isnan(value_usd) OR isinf(value_usd)
                                    OR value_usd < 0) AS bad_value_lines,
                   count(*) FILTER (WHERE code IS NULL OR length(code) <> {source_digits}
                                    OR NOT regexp_full_match(code, '[0-9]+')) AS bad_code_lines,
                   count(*) FILTER (WHERE {'month IS NULL OR NOT (' + month_ok + ')' if by_month else 'FALSE'})
                       AS bad_month_lines,
                   count(*) FILTER (WHERE level IS DISTINCT FROM {_literal(source_level)}) AS bad_level_lines
            FROM read_parquet({_file_list(files["path"])}, {_HIVE})
            WHERE {' AND '.join(where)}
            GROUP BY ALL
            ORDER BY {', '.join(keys)}"""
        frame = self._run(sql, params)
        columns = keys + ["value_usd", "lines"] + list(_GUARDS)
        frame = frame[columns]
        frame = self._check(frame, keys, level, files, source_level, by_month)
        if frame.empty:
            raise DataError(self.name, "partner" if partners else "code",
                            f"no {source_level} lines match partners {list(partners or [])}, codes "
                            f"{list(codes or [])} in flows {list(flows)}")
        out = frame.drop(columns=list(_GUARDS)).reset_index(drop=True)
        partial = sorted({int(y) for y, kind, months in zip(files["year"], files["frequency"], files["months"], strict=True)
                          if kind == "monthly" and len(months) < 12})
        out.attrs.update(store=str(self.root), level=level, source_level=source_level, frequency=frequency,
                         sources=sorted(set().union(*map(set, files["sources"]))),
                         bases=sorted(set().union(*map(set, files["bases"]))),
                         partial_years=partial if not by_month else [])
        return out

    def _run(self, sql: str, params: Sequence) -> pd.DataFrame:
        try:
            return self.con.execute(sql, list(params)).df()
        except Exception as exc:
            raise DataError(self.name, "read", f"DuckDB could not read the partitions: "
                            f"{type(exc).__name__}: {exc}") from None

    def _check(self, frame: pd.DataFrame, keys: list[str], level: str, files: pd.DataFrame,
               source_level: str, by_month: bool) -> pd.DataFrame:
        """Validate an aggregate; on failure find the stored lines at fault and name them."""
        frame = frame.astype({c: "int64" for c in ("year", "lines", *[g for g in _GUARDS if g.startswith("bad")])}
                             | ({"month": "int64"} if by_month else {}))
        try:
            return aggregate_schema(frame.columns, keys, level).validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            error = _schema_error(exc, frame, f"{self.name}: aggregate", keys)
        raise self._locate(error, files, source_level, by_month) from None

    def _locate(self, error: DataError, files: pd.DataFrame, source_level: str, by_month: bool) -> DataError:
        """The stored lines behind a failed aggregate: file and row numbers in the file."""
        predicate = {
            "value_usd": "value_usd IS NULL OR isnan(value_usd) OR isinf(value_usd) OR value_usd < 0",
            "code": f"code IS NULL OR length(code) <> {LEVELS[source_level]} OR NOT regexp_full_match(code, '[0-9]+')",
            "month": "month IS NULL OR month NOT BETWEEN 1 AND 12" if by_month else "month IS NOT NULL",
            "level": f"level IS DISTINCT FROM {_literal(source_level)}",
            "partner": "partner IS NULL OR trim(partner) = ''",
        }.get(error.field)
        if predicate is None:
            return error
        try:
            found = self.con.execute(
                f"SELECT filename, file_row_number FROM read_parquet({_file_list(files['path'])}, "
                f"{_HIVE}, filename=true, file_row_number=true) WHERE {predicate} "
                "ORDER BY filename, file_row_number LIMIT 50").fetchall()
        except Exception:
            return error
        if not found:
            return error
        file = Path(found[0][0])
        rows = [int(r) for f, r in found if f == found[0][0]]
        return DataError(f"{self.name} ({file.relative_to(self.root)})", error.field,
                         f"corrupt partition: lines fail the check of {error.field!r} "
                         f"(aggregate rows {', '.join(map(str, error.rows[:5]))})", rows)

    def _holds(self, inv: pd.DataFrame | None = None) -> str:
        inv = self.inventory() if inv is None else inv
        if inv.empty:
            return "nothing (empty store)"
        parts = []
        for level in sorted(inv["level"].unique(), key=LEVELS.get):
            sub = inv[inv["level"] == level]
            parts.append(f"{level} {'/'.join(sorted(sub['frequency'].unique()))} "
                         f"{sub['year'].min()}-{sub['year'].max()} ({', '.join(sorted(sub['flow'].unique()))})")
        return "; ".join(parts)

    def autos(self, split: bool = True, partners: Sequence[str] | None = None,
              years: Iterable[int] | int | None = None, flows: Sequence[str] = ("import", "export"),
              frequency: str = "annual") -> pd.DataFrame:
        """Automotive trade: cars (HS 8703), parts (HS 8708) and the rest of chapter 87.

        With ``split`` and HS4 or finer lines covering the request, chapter 87 is split into
        :data:`CARS`, :data:`PARTS` and :data:`REST_OF_87` (they add up to the chapter);
        otherwise (HS2 only, as offline, or ``split=False``) one group
        :data:`CHAPTER_87`. ``attrs["split"]`` says which, ``attrs["detail"]`` the level read
        and ``attrs["note"]`` why.

        Returns
        -------
        DataFrame
            ``flow, year, [month,] partner, group, value_usd, lines``.
        """
        note = "chapter 87 only: split=False"
        fine = None
        if split:
            try:
                fine, _ = self.pick_level("HS4", partners, years, flows, frequency)
                note = f"cars, parts and the rest of chapter 87 from the store's {fine} lines"
            except DataError as exc:
                note = f"chapter 87 only: the store holds no HS4 or finer lines covering the request ({exc})"
        if fine is not None:
            lines = self.aggregate("HS4", partners, years, flows, frequency, codes=["87"], source_level=fine)
            lines["group"] = lines["code"].map(AUTOS_SPLIT).fillna(REST_OF_87)
        else:
            lines = self.aggregate("HS2", partners, years, flows, frequency, codes=["87"])
            lines["group"] = CHAPTER_87
        keys = ["flow", "year"] + (["month"] if frequency == "monthly" else []) + ["partner", "group"]
        out = lines.groupby(keys, as_index=False, sort=True)[["value_usd", "lines"]].sum()
        try:
            out = aggregate_schema(out.columns, keys).validate(out, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            raise _schema_error(exc, out, f"{self.name}: autos", keys) from None
        out.attrs.update(lines.attrs, split=fine is not None, detail=lines.attrs["source_level"], note=note)
        return out


# ---------------------------------------------------------------------------------------
# the mirror's HS2 panel, and the decomposition's inputs


def load_comtrade_hs2(store: ProductStore | None = None, comtrade: pd.DataFrame | None = None) -> pd.DataFrame:
    """Write the mirror's HS2 panel (the processed ``comtrade_hs2`` table) into the store
    at level HS2, annual, every flow (``mode="replace"``: the store's HS2 lines become the
    table's).

    ``partner_key`` becomes ``partner``, ``hs2`` ``code``, ``source_vintage`` ``source``
    and ``basis`` (CIF imports, FOB exports) is kept. Rows without a chapter (``hs2``
    missing) are left out, as the decomposition leaves them out.

    Returns the summary of :meth:`ProductStore.write`; ``attrs["rows_without_chapter"]``.
    """
    from . import io

    store = store or ProductStore()
    table = io.read_table("comtrade_hs2") if comtrade is None else comtrade
    no_chapter = int(table["hs2"].isna().sum())
    rows = table[table["hs2"].notna()]
    frame = pd.DataFrame({
        "flow": rows["flow"].to_numpy(), "year": rows["year"].to_numpy(),
        "partner": rows["partner_key"].to_numpy(), "code": rows["hs2"].to_numpy(),
        "value_usd": rows["value_usd"].to_numpy(), "basis": rows["basis"].to_numpy(),
        "source": rows["source_vintage"].to_numpy(),
    })
    summary = store.write(frame, level="HS2", mode="replace")
    summary.attrs["rows_without_chapter"] = no_chapter
    return summary


def decomposition_inputs(store: ProductStore, partner: str, grouping: str = "named",
                         years: Iterable[int] | None = None, world: str = "WLD",
                         source_level: str | None = None,
                         allow_synthetic: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The panels notebook 02's decomposition takes, from the store.

    DuckDB sums the stored lines (any level) to HS chapters for ``partner`` and ``world``;
    the chapters are then grouped exactly as :func:`korus_research.decomposition.comtrade_panel`
    groups the processed table's, by the same function.

    Returns
    -------
    (panel, world_panel)
        ``group, year, exports, imports`` (US$) for the partner and for the world, the
        arguments of :func:`~korus_research.decomposition.balance_contributions`,
        :func:`~korus_research.decomposition.shift_share` and
        :func:`~korus_research.decomposition.lmdi_share`. ``attrs``: the aggregate's
        (``source_level``, ``sources``, ...).

    Raises
    ------
    DataError
        When the store holds the benchmark's generated lines (``SYNTHETIC-EXPANDED``) and
        ``allow_synthetic`` is false: they are never study data.
    """
    from .decomposition import comtrade_panel

    hs2 = store.aggregate("HS2", partners=[partner, world], years=years, flows=("export", "import"),
                          frequency="annual", source_level=source_level)
    if SYNTHETIC_EXPANDED in hs2.attrs["sources"] and not allow_synthetic:
        raise DataError(store.name, "source", f"the lines read are labelled {SYNTHETIC_EXPANDED} "
                        "(the benchmark's generated table): not study data")
    rows = hs2.rename(columns={"partner": "partner_key", "code": "hs2"})
    panel, world_panel = comtrade_panel(rows, partner, grouping), comtrade_panel(rows, world, grouping)
    for frame in (panel, world_panel):
        frame.attrs.update({k: v for k, v in hs2.attrs.items()})
    return panel, world_panel


# ---------------------------------------------------------------------------------------
# the study's store, fetched Census detail, and what the notebooks read at whatever detail


#: File under the store's root recording which bytes of ``comtrade_hs2`` its HS2 level holds.
HS2_MARKER = "hs2_loaded_from.json"
#: ``source`` of the lines :func:`load_census_api` writes, and their ``basis`` by flow (the
#: Census API's values: general imports at customs value, total exports F.A.S.).
CENSUS_SOURCE = "census-api"
CENSUS_BASIS = {"import": "customs value", "export": "FAS"}


def study_store(root: str | Path | None = None) -> ProductStore:
    """The study's product store (:func:`default_root`), holding at least the mirror's HS2 panel.

    The store's HS2 level is (re)loaded from the processed ``comtrade_hs2`` table with
    :func:`load_comtrade_hs2` when it is missing, when the table's bytes changed since it was
    loaded, or when the HS2 lines no longer are those loaded (the table's sha256 and the level's
    rows and total are kept in ``<root>/hs2_loaded_from.json``). Finer levels (detail fetched
    from the Census API, :func:`load_census_api`) are never touched. The table is read with
    :func:`korus_research.io.read_table`, so a notebook's run record lists it among the tables
    read: the HS2 lines are that table's.
    """
    from . import io

    store = ProductStore(root)
    comtrade = io.read_table("comtrade_hs2")
    sha = io.tables_read()["comtrade_hs2"]
    store.root.mkdir(parents=True, exist_ok=True)
    marker = store.root / HS2_MARKER
    with config.file_lock(store.root / ".hs2.lock"):
        expected = json.loads(marker.read_text()) if marker.exists() else {}
        if expected != {"sha256": sha, **_hs2_state(store)}:
            summary = load_comtrade_hs2(store, comtrade)
            _drop_partitions(store, "HS2", keep=set(zip(summary["flow"], summary["year"].astype(int), strict=True)))
            tmp = store.root / f".{HS2_MARKER}.{uuid.uuid4().hex}.partial"
            tmp.write_text(json.dumps({"sha256": sha, **_hs2_state(store)}, sort_keys=True) + "\n")
            config.publish(tmp, marker)
    return store


def _drop_partitions(store: ProductStore, level: str, keep: set) -> None:
    """Remove the files at ``level`` of the partitions not in ``keep`` (``(flow, year)`` pairs):
    after a reload, a year or flow the table no longer holds must not linger in the store."""
    with config.file_lock(store.root / ".write.lock"):
        for path in store.files():
            if path.name != f"part-{level}.parquet":
                continue
            flow, year = path.parent.parent.name.removeprefix("flow="), int(path.parent.name.removeprefix("year="))
            if (flow, year) not in keep:
                path.unlink()
                _remove_if_empty(path.parent)
                _remove_if_empty(path.parent.parent)


def _hs2_state(store: ProductStore) -> dict:
    """Rows and total value of the store's HS2 files, from their footers (no data read)."""
    inv = store.inventory()
    hs2 = inv[inv["level"] == "HS2"]
    return {"rows": int(hs2["rows"].sum()), "value_usd": round(float(hs2["value_usd"].sum()), 2)}


def load_census_api(store: ProductStore, frame: pd.DataFrame, source: str = CENSUS_SOURCE) -> pd.DataFrame:
    """Write product lines fetched from the Census International Trade API into the store.

    Parameters
    ----------
    store : ProductStore
    frame : DataFrame
        What :func:`korus_research.census_api.fetch_trade` returns: ``flow, partner, hs, level,
        period, value_usd`` (checked against :data:`korus_research.census_api.CENSUS_TRADE`),
        HS4, HS6 or HS10 lines, annual (``period`` ``YYYY``) or monthly (``YYYY-MM``); several
        levels, flows, partners and years may be mixed.
    source : str
        The ``source`` column of the lines written (default ``census-api``; where each answer
        came from is in ``data/raw/MANIFEST.json``).

    Each level and frequency is written with :meth:`ProductStore.write` (``mode="merge"``: the
    partners of ``frame`` replace their own lines at that level in the partitions written, other
    partners and levels are kept), ``basis`` ``customs value`` for imports and ``FAS`` for
    exports (the Census API's values: general imports, total exports).

    Returns
    -------
    DataFrame
        The summaries of the writes: ``flow, year, level, frequency, rows, path``.

    Raises
    ------
    DataError
        When the frame fails the Census schema, or holds HS2 lines: the store's HS2 level holds
        the mirror's panel of every partner and the world (imports CIF), which Census chapters
        for one partner would mix with another basis; the Census detail goes in at HS4 or finer.

    Examples
    --------
    >>> from korus_research import census_api, productstore as ps  # doctest: +SKIP
    >>> lines = census_api.fetch_trade("import", "HS10", [2011, 2016])  # doctest: +SKIP
    >>> ps.load_census_api(ps.study_store(), lines)  # doctest: +SKIP
    """
    from .census_api import CENSUS_TRADE

    where = f"{store.name}: Census API lines"
    if not isinstance(frame, pd.DataFrame):
        raise DataError(where, "frame", f"expected a DataFrame, got {type(frame).__name__}")
    frame = frame.reset_index(drop=True)
    try:
        frame = CENSUS_TRADE.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise _schema_error(exc, frame, where, ("partner", "hs", "period", "flow")) from None
    coarse = frame.index[frame["level"] == "HS2"].tolist()
    if coarse:
        raise DataError(where, "level", "HS2 lines: the store's HS2 level holds the mirror's panel of every "
                        "partner and the world (imports CIF); load the Census detail at HS4, HS6 or HS10", coarse)
    monthly = frame["period"].str.len() == 7
    summaries = []
    for (level, by_month), part in frame.groupby([frame["level"], monthly], sort=True):
        lines = pd.DataFrame({
            "flow": part["flow"].to_numpy(), "year": part["period"].str[:4].astype(int).to_numpy(),
            "partner": part["partner"].to_numpy(), "code": part["hs"].to_numpy(),
            "value_usd": part["value_usd"].to_numpy(), "basis": part["flow"].map(CENSUS_BASIS).to_numpy(),
            "source": source,
        })
        if by_month:
            lines["month"] = part["period"].str[5:7].astype(int).to_numpy()
        summaries.append(store.write(lines, level=level))
    if not summaries:
        return pd.DataFrame(columns=["flow", "year", "level", "frequency", "rows", "path"])
    return pd.concat(summaries, ignore_index=True)


def chapter_table(store: ProductStore, partner: str, world: str = "WLD",
                  years: Iterable[int] | None = None) -> pd.DataFrame:
    """US imports and exports of ``partner`` and ``world`` by HS chapter, from the store, in the
    layout of the processed ``comtrade_hs2`` table that :mod:`korus_research.decomposition`
    takes: ``flow, year, partner_key, hs2, value_usd`` (annual, US$).

    Both partners are read from one level: the finest that covers the partner and the world in
    every year (the years the world is stored in, by default); offline that is the mirror's HS2
    panel, so the rows are the table's own. A partner absent from the store, or from some of its
    years, gets no rows there, as in the processed table (the level is then the one that covers
    the world). ``attrs``: the aggregate's (``source_level``, ``sources``, ``bases``, ...).

    Raises
    ------
    DataError
        When nothing covers the world, or the lines read are the benchmark's generated ones
        (``SYNTHETIC-EXPANDED``: never study data).
    """
    flows = ("import", "export")
    if years is None:
        inv = store.inventory()
        with_world = inv[inv["flow"].isin(flows) & inv["partners"].map(lambda held: world in held)]
        years = sorted({int(y) for y in with_world["year"]})
    try:
        level, _ = store.pick_level("HS2", [partner, world], years, flows)
    except DataError:
        level, _ = store.pick_level("HS2", [world], years, flows)
    lines = store.aggregate("HS2", partners=[partner, world], years=years, flows=flows, source_level=level)
    if SYNTHETIC_EXPANDED in lines.attrs["sources"]:
        raise DataError(store.name, "source", f"the lines read are labelled {SYNTHETIC_EXPANDED} "
                        "(the benchmark's generated table): not study data")
    out = lines.rename(columns={"partner": "partner_key", "code": "hs2"})[
        ["flow", "year", "partner_key", "hs2", "value_usd"]]
    out.attrs.update(lines.attrs)
    return out


def autos_detail(store: ProductStore, partner: str, years: Iterable[int]) -> pd.DataFrame | None:
    """The partner's automotive trade split into cars (HS 8703), parts (HS 8708) and the rest of
    chapter 87 (:meth:`ProductStore.autos`), when the store holds HS4 or finer lines covering the
    partner's imports and exports in every one of ``years``; ``None`` otherwise (offline: the
    mirror's chapters only).

    Raises
    ------
    DataError
        When the detail read is the benchmark's generated lines, or a partition is corrupt.
    """
    years = sorted({int(y) for y in years})
    try:
        store.pick_level("HS4", [partner], years, ("import", "export"))
    except DataError:
        return None
    autos = store.autos(split=True, partners=[partner], years=years, flows=("import", "export"))
    if SYNTHETIC_EXPANDED in autos.attrs["sources"]:
        raise DataError(store.name, "source", f"the lines read are labelled {SYNTHETIC_EXPANDED} "
                        "(the benchmark's generated table): not study data")
    return autos if autos.attrs["split"] else None


def detail_line(store: ProductStore, chapters: pd.DataFrame, autos: pd.DataFrame | None, partner: str,
                years: Iterable[int]) -> str:
    """One sentence on the detail the store holds and what a notebook reads of it (for the
    notebook's output): the levels with their frequencies, years and sources, the level the
    chapters come from (``chapters.attrs["source_level"]``) and whether autos are split."""
    held = "; ".join(f"{level} {row['frequency']} {row['first_year']}-{row['last_year']} ({row['sources']})"
                     for level, row in store.levels().iterrows()) or "nothing"
    years = sorted({int(y) for y in years})
    span = " and ".join(str(y) for y in years)
    text = f"Product detail in the store: {held}. The chapters are read from its {chapters.attrs['source_level']} lines; "
    if autos is not None:
        return text + (f"autos are split into cars (HS 8703), parts (HS 8708) and the rest of chapter 87 from its "
                       f"{autos.attrs['detail']} lines for {partner} in {span}.")
    return text + f"autos stay one group (chapter 87): no HS4 or finer lines cover {partner}'s imports and exports in {span}."


def detail_basis(frame: pd.DataFrame) -> str:
    """The basis of store lines finer than HS2 in a few words (``Census basis`` for the lines of
    :func:`load_census_api`, else their ``basis`` values)."""
    if list(frame.attrs.get("sources", [])) == [CENSUS_SOURCE]:
        return "Census basis"
    return "basis: " + (", ".join(frame.attrs.get("bases", [])) or "not stated")


def detail_source(frame: pd.DataFrame) -> str:
    """The source line of a table built from store lines finer than HS2 (``frame.attrs`` of
    :meth:`ProductStore.aggregate` or :meth:`ProductStore.autos`): who published the lines, at
    which level, on which basis."""
    sources = list(frame.attrs.get("sources", []))
    who = ("US Census Bureau, International Trade API" if sources == [CENSUS_SOURCE]
           else ", ".join(sources) or "the product store")
    bases = ", ".join(frame.attrs.get("bases", [])) or "basis not stated"
    level = frame.attrs.get("detail") or frame.attrs.get("source_level", "")
    return f"{who} ({level} lines in the product store; {bases})"


# ---------------------------------------------------------------------------------------
# helpers


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ParameterError("level", level, list(LEVELS))
    return level


def _selection(flows, years, partners, frequency):
    flows = (flows,) if isinstance(flows, str) else tuple(flows)
    bad = [f for f in flows if f not in FLOWS]
    if bad or not flows:
        raise ParameterError("flows", list(flows), FLOWS)
    if frequency not in FREQUENCIES:
        raise ParameterError("frequency", frequency, FREQUENCIES)
    if years is not None:
        years = [int(years)] if isinstance(years, int | np.integer) else sorted({int(y) for y in years})
    if partners is not None:
        partners = [partners] if isinstance(partners, str) else list(dict.fromkeys(partners))
    return flows, years, partners, frequency


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _file_list(paths: Iterable) -> str:
    return "[" + ", ".join(_literal(str(p)) for p in paths) + "]"


def _short(items: list[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f" (and {len(items) - n} more)" if len(items) > n else "")


def _release_memory() -> None:
    """Hand the memory of a written chunk back to the system.

    Arrow's allocator and glibc's malloc keep freed memory for reuse; over hundreds of
    chunks of a large write the process would grow though it holds one chunk at a time.
    """
    gc.collect()  # frames in reference cycles (validation keeps some) go now, not later
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None


_LIBC = _libc()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def remove_store(root: str | Path) -> None:
    """Delete a store's folder (used by the benchmark for its generated table)."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
