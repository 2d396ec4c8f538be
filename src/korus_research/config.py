"""Every path of the project, derived from one project root.

The root is the folder holding ``pyproject.toml`` (the package is installed in
editable mode from it). ``KORUS_ROOT`` overrides it, ``KORUS_DATA_MIRROR`` sets the
offline mirror of the official source files (default ``<root>/../shared/korus-data``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive lock on ``path`` (created with its folder) while writers of one file
    (a manifest, the run log) take turns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(tmp: str | Path, dest: str | Path) -> None:
    """Move a finished temporary file into place atomically, with the permissions of a file
    created normally (``tempfile.mkstemp`` makes them 0600; the user's umask decides here)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, dest)


def _find_root() -> Path:
    env = os.environ.get("KORUS_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "src" / "korus_research").exists():
            return parent
    return Path.cwd().resolve()


PROJECT_ROOT: Path = _find_root()


def data_raw() -> Path:
    """Folder of the raw files as fetched (read-only for everything but :mod:`fetch`)."""
    return _from_env("KORUS_DATA_RAW", PROJECT_ROOT / "data" / "raw")


def data_processed() -> Path:
    """Folder of the processed, validated parquet tables."""
    return _from_env("KORUS_DATA_PROCESSED", PROJECT_ROOT / "data" / "processed")


def results_dir() -> Path:
    """Folder of the saved key results of the notebooks (read by the synthesis)."""
    return data_processed() / "results"


def _from_env(variable: str, default: Path) -> Path:
    """A folder from the environment (relative: from the project root), else ``default``."""
    value = os.environ.get(variable)
    return _from_root(value) if value else default


def reports_dir() -> Path:
    """Folder of the executed notebooks, figures and HTML report (``KORUS_REPORTS``)."""
    return _from_env("KORUS_REPORTS", PROJECT_ROOT / "reports")


def figures_dir() -> Path:
    return reports_dir() / "figures"


def notebooks_dir() -> Path:
    return PROJECT_ROOT / "notebooks"


def mirror_dir() -> Path | None:
    """The offline mirror folder, or ``None`` when there is none."""
    env = os.environ.get("KORUS_DATA_MIRROR")
    path = _from_root(env) if env else PROJECT_ROOT.parent / "shared" / "korus-data"
    return path if path.is_dir() else None


def _from_root(value: str) -> Path:
    """A path from the environment: a relative one is taken from the project root, not from
    the current directory (make and the notebooks' kernels run in different folders)."""
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def mirror_candidates() -> list[Path]:
    """Every folder looked at as a mirror (used in error messages)."""
    env = os.environ.get("KORUS_DATA_MIRROR")
    return [_from_root(env)] if env else [PROJECT_ROOT.parent / "shared" / "korus-data"]
