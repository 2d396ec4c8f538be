"""Errors about bad input, always naming the file, the field and the rows."""

from __future__ import annotations

from collections.abc import Sequence


class DataError(ValueError):
    """A raw or processed table is not what the study expects.

    The message names the file, the field (column) and the rows at fault.
    """

    def __init__(self, file: str, field: str, problem: str, rows: Sequence | None = None):
        self.file = str(file)
        self.field = field
        self.rows = list(rows) if rows is not None else []
        shown = ", ".join(str(r) for r in self.rows[:10])
        more = f" (and {len(self.rows) - 10} more)" if len(self.rows) > 10 else ""
        where = f"; rows: {shown}{more}" if self.rows else ""
        super().__init__(f"{self.file}: field {field!r}: {problem}{where}")
