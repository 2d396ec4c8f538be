"""One exception hierarchy for the suite.

``KorusError`` is the base. Its subclasses say what went wrong:

- :class:`DataError`: a raw or processed table is not what the study expects (names the
  file, the field and the rows);
- :class:`ParameterError`: a study or notebook parameter is invalid (names the parameter,
  the value given and the valid choices);
- :class:`EstimationError`: an estimator cannot run on the data it was given (no
  pre-period, empty control group, a term that does not vary, ...);
- :class:`ResultsError`: saved results are missing, malformed or belong to another study.

The command line turns any of them into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class KorusError(Exception):
    """Base class of every error the suite raises on purpose."""


class DataError(KorusError, ValueError):
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


class ParameterError(KorusError, ValueError):
    """A parameter has a value outside its valid choices.

    The message names the parameter, the value given and what is valid.
    """

    def __init__(self, parameter: str, value, valid: str | Iterable[str], problem: str = ""):
        self.parameter = parameter
        self.value = value
        if not isinstance(valid, str):
            valid = ", ".join(str(v) for v in valid)
        self.valid = valid
        why = f": {problem}" if problem else ""
        super().__init__(f"parameter {parameter}={value!r} is not valid{why}; valid: {valid}")


class EstimationError(KorusError, ValueError):
    """An estimator cannot run on the data it was given."""


class ResultsError(KorusError):
    """Saved results are missing, malformed, or belong to another study."""
