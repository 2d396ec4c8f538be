"""Reading and writing the processed tables (the notebooks' results: :mod:`korus_research.results`).

Every table is validated against its schema (:mod:`korus_research.schemas`) when
written and when read. Writes go to a temporary file moved into place only after
validation, so a bad frame never replaces a good stored table.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from io import BytesIO
from pathlib import Path

import pandas as pd
import pandera.errors

from . import config
from .errors import DataError
from .schemas import TABLES


def table_path(name: str, folder: Path | None = None) -> Path:
    return (folder or config.data_processed()) / f"{name}.parquet"


def validate(name: str, frame: pd.DataFrame, file: str | None = None) -> pd.DataFrame:
    """Validate ``frame`` against the schema of table ``name``.

    Raises
    ------
    DataError
        Naming the file, the first failing column and its rows.
    """
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}")
    schema = TABLES[name]
    if not frame.index.is_unique or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)  # rows are reported by position
    try:
        return schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.copy()
        # failures of one column's own checks first, then table-level ones
        cases["_order"] = (cases["schema_context"] != "Column").astype(int)
        cases = cases.sort_values("_order", kind="stable")
        first = cases.iloc[0]
        check = str(first["check"])
        if check == "column_in_dataframe":
            missing = cases.loc[cases["check"] == check, "failure_case"].astype(str).tolist()
            raise DataError(file or name, missing[0], f"schema {name}: missing column(s) {missing}") from None
        if check == "column_in_schema":
            extra = cases.loc[cases["check"] == check, "failure_case"].astype(str).tolist()
            raise DataError(file or name, extra[0], f"schema {name}: unexpected column(s) {extra}") from None
        if check == "multiple_fields_uniqueness":
            field = "+".join(schema.unique or [])
            sub = cases[cases["check"] == check]
        elif first["schema_context"] == "Column":
            field = str(first["column"])
            sub = cases[(cases["column"].astype(str) == field) & (cases["schema_context"] == "Column")]
        else:
            field = check
            sub = cases[cases["check"] == first["check"]]
        rows = sorted({int(i) for i in sub["index"].dropna()})
        checks = "; ".join(sorted({str(c) for c in sub["check"]}))[:400]
        raise DataError(file or name, field, f"schema {name} failed: {checks}", rows) from None


def write_table(name: str, frame: pd.DataFrame, folder: Path | None = None) -> Path:
    """Validate and write ``frame`` as ``<folder>/<name>.parquet`` atomically."""
    path = table_path(name, folder)
    frame = validate(name, frame.reset_index(drop=True), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}-", suffix=".parquet.tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        config.publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_table(name: str, folder: Path | None = None) -> pd.DataFrame:
    """Read and validate a processed table.

    Raises
    ------
    FileNotFoundError
        When the table was not built (``make processed`` builds it).
    DataError
        When the stored table does not satisfy its schema.
    """
    path = table_path(name, folder)
    if not path.exists():
        raise FileNotFoundError(f"{path.name} not found in data/processed; run `make processed`")
    data = path.read_bytes()
    _READ[name] = hashlib.sha256(data).hexdigest()
    return validate(name, pd.read_parquet(BytesIO(data)), f"data/processed/{path.name}")


#: sha256 of every processed table read in this process (recorded in the results store).
_READ: dict[str, str] = {}


def tables_read() -> dict[str, str]:
    """``{table: sha256}`` of the processed tables read so far in this process."""
    return dict(sorted(_READ.items()))
