"""Fetch raw files into ``data/raw/``: from the offline mirror, else from the source.

Every file is verified against the sha256 of the registry before it enters
``data/raw/``; the copy or download goes to a temporary file in the same folder and
is moved into place with :func:`os.replace` only once verified, so a failed, partial
or wrong file never replaces one already cached. Each fetch is recorded in
``data/raw/MANIFEST.json`` (source, sha256, bytes, time) as soon as the file is in place; a
good file that an interrupted fetch left unrecorded is verified and recorded on the next run,
leftovers of an interrupted fetch are removed, and a fetch that changes nothing leaves the
manifest untouched.

The checksum is the registry's (:mod:`korus_research.registry`), or the lock file's with
``KORUS_VINTAGES=locked``. Newer releases fetched by ``korus-research fetch --update``
(:mod:`korus_research.vintages`) are kept in ``data/raw/vintages/`` under a name carrying
their sha256; the fetch of a locked vintage takes its copy from there first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from . import config, registry
from .errors import KorusError

MANIFEST_NAME = "MANIFEST.json"
#: Folder of ``data/raw`` holding the newer releases fetched by ``fetch --update``.
VINTAGES_DIR = "vintages"


class FetchError(KorusError, RuntimeError):
    """A raw file could not be had with the registered checksum."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, source: registry.Source, origin: str, expected_size: int | None | str = "registry") -> str | None:
    """Return a description of what is wrong with ``path``, or ``None`` when it is good.

    The size and checksum expected are those of ``source`` in the registry in use (pinned or
    locked); ``expected_size`` overrides the size (``None``: not checked)."""
    by = registry.checksum_from(source.path) if registry.SOURCES.get(source.path) is source else "registry"
    size = path.stat().st_size
    expected = registry.SIZES.get(source.path) if expected_size == "registry" else expected_size
    if expected is not None and size < expected and by == "registry":  # a locked release: other bytes, not a cut
        return f"truncated at {origin}: {size:,} of {expected:,} bytes"
    got = sha256_of(path)
    if got != source.sha256:
        return f"checksum mismatch at {origin}: sha256 {got}, {by} expects {source.sha256}"
    return None


def _download(url: str, dest: Path, sha256: str) -> None:
    """Download ``url`` to ``dest`` with pooch, which verifies the hash."""
    import pooch

    pooch.retrieve(
        url,
        known_hash=f"sha256:{sha256}",
        fname=dest.name,
        path=dest.parent,
        progressbar=False,
    )


def download_release(url: str, dest: Path) -> None:
    """Download whatever ``url`` serves now to ``dest`` (no known hash: a new release).

    pooch streams into a temporary file beside ``dest`` and moves it into place only when the
    transfer is complete, so an interrupted download leaves no ``dest``."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch would print the unknown hash as advice
    try:
        pooch.retrieve(url, known_hash=None, fname=dest.name, path=dest.parent, progressbar=False)
    finally:
        logger.setLevel(level)


def vintage_store(raw_dir: Path | None = None) -> Path:
    """``data/raw/vintages``: the newer releases fetched by ``fetch --update``."""
    return Path(raw_dir or config.data_raw()) / VINTAGES_DIR


def stored_vintage(path: str, sha256: str, raw_dir: Path | None = None) -> Path:
    """Where the release of ``path`` with ``sha256`` is kept in the vintage store:
    ``data/raw/vintages/<folder>/<stem>@<sha256[:12]><suffix>``."""
    name = Path(path)
    return vintage_store(raw_dir) / name.parent / f"{name.stem}@{sha256[:12]}{name.suffix}"


def _mirror_folder(mirror: Path | None | str) -> Path | None:
    return config.mirror_dir() if mirror == "default" else (Path(mirror) if mirror else None)


def verified_copy(path: str, source: registry.Source, *, raw_dir: Path | None = None,
                  mirror: Path | None | str = "default", size: int | None = None) -> Path | None:
    """A file already at hand holding the bytes of ``source`` (``data/raw``, the vintage store,
    the mirror, in this order), verified by its sha256; ``None`` when there is none. Nothing is
    copied or recorded."""
    raw_dir = Path(raw_dir or config.data_raw())
    mirror_dir = _mirror_folder(mirror)
    places = [raw_dir / path, stored_vintage(path, source.sha256, raw_dir)]
    if mirror_dir is not None:
        places.append(mirror_dir / path)
    for place in places:
        if place.is_file() and (size is None or place.stat().st_size == size) and sha256_of(place) == source.sha256:
            return place
    return None


def read_manifest(raw_dir: Path | None = None) -> dict:
    """Return the manifest of ``data/raw`` (empty when nothing was fetched yet)."""
    path = (raw_dir or config.data_raw()) / MANIFEST_NAME
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _write_manifest(raw_dir: Path, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=raw_dir, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    config.publish(tmp, raw_dir / MANIFEST_NAME)


def fetch(
    path: str,
    *,
    raw_dir: Path | None = None,
    mirror: Path | None | str = "default",
    download: Callable[[str, Path, str], None] | None = None,
) -> Path:
    """Make ``data/raw/<path>`` hold the registered bytes of ``path`` and return it.

    Parameters
    ----------
    path : str
        Registry key, e.g. ``"census/country.xlsx"``.
    raw_dir : Path, optional
        Destination folder (default :func:`korus_research.config.data_raw`).
    mirror : Path or None, optional
        Offline mirror folder; ``"default"`` uses ``KORUS_DATA_MIRROR`` or
        ``../shared/korus-data``; ``None`` skips the mirror.
    download : callable, optional
        ``download(url, dest, sha256)``; default uses :func:`pooch.retrieve`.

    Raises
    ------
    FetchError
        When no place yields the file with the registered checksum; the message
        names the file and every place looked at, and nothing in ``raw_dir`` changed.
    """
    source = registry.get(path)
    raw_dir = Path(raw_dir or config.data_raw())
    mirror_dir = _mirror_folder(mirror)
    download = download or _download
    dest = raw_dir / path

    if dest.exists() and _check(dest, source, str(dest)) is None:
        recorded = read_manifest(raw_dir).get(path, {})
        if recorded.get("sha256") != source.sha256:  # a good file left unrecorded by an interrupted fetch
            _record(raw_dir, source, dest, recorded.get("source", "found in data/raw, verified"))
        return dest

    looked: list[str] = []
    if dest.exists():
        looked.append(f"{dest}: cached copy is bad ({_check(dest, source, 'cache')}); kept until a good copy is found")
    dest.parent.mkdir(parents=True, exist_ok=True)

    candidates = [(mirror_dir / path, "mirror")] if mirror_dir is not None else []
    if mirror == "default" and mirror_dir is None:
        looked += [f"{m / path}: no mirror folder" for m in config.mirror_candidates()]
    stored = stored_vintage(path, source.sha256, raw_dir)
    if stored.is_file():  # a release fetched by `fetch --update` (locked vintages)
        candidates.insert(0, (stored, f"vintage store ({stored.relative_to(raw_dir)})"))
    for src, origin in candidates:
        if not src.exists():
            looked.append(f"{src}: missing")
            continue
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-", suffix=".part")
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            try:
                shutil.copyfile(src, tmp_path)
            except OSError as exc:  # unreadable (permissions, an I/O error): look elsewhere
                looked.append(f"{src}: unreadable ({type(exc).__name__}: {exc.strerror or exc})")
                continue
            problem = _check(tmp_path, source, str(src))
            if problem:
                looked.append(problem)
                continue
            config.publish(tmp_path, dest)
            _record(raw_dir, source, dest, origin)
            return dest
        finally:
            tmp_path.unlink(missing_ok=True)

    if source.download_url:
        tmp_dir = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".download-"))
        try:
            tmp_path = tmp_dir / dest.name
            download(source.download_url, tmp_path, source.sha256)
            problem = _check(tmp_path, source, source.download_url) if tmp_path.exists() else (
                f"{source.download_url}: download produced no file"
            )
            if problem is None:
                config.publish(tmp_path, dest)
                _record(raw_dir, source, dest, source.download_url)
                return dest
            looked.append(problem)
        except Exception as exc:  # network errors, pooch's hash errors
            looked.append(f"{source.download_url}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    else:
        looked.append(f"no byte-stable download address registered (official source: {source.url})")

    locked = (f" (the locked vintage {source.vintage!r} of {registry.lock_path().name}; KORUS_VINTAGES=pinned "
              "uses the registry's)") if registry.checksum_from(path) == "lock file" else ""
    raise FetchError(
        f"cannot fetch {path!r} with sha256 {source.sha256}{locked}. Looked at:\n  - "
        + "\n  - ".join(looked)
    )


def manifest_lock(raw_dir: Path):
    """Hold the lock of ``data/raw/MANIFEST.json`` (concurrent fetches and the BEA client)."""
    return config.file_lock(raw_dir / ".manifest.lock")


def _record(raw_dir: Path, source: registry.Source, dest: Path, origin: str) -> None:
    with manifest_lock(raw_dir):
        manifest = read_manifest(raw_dir)
        manifest[source.path] = {
            "source": origin,
            "sha256": source.sha256,
            "bytes": dest.stat().st_size,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "official_url": source.url,
            "vintage": source.vintage,
        }
        _write_manifest(raw_dir, manifest)


def fetch_all(
    paths: Iterable[str] | None = None, *, progress: bool = True, **kwargs
) -> list[Path]:
    """Fetch every registered file (or ``paths``), showing progress; see :func:`fetch`."""
    paths = list(paths or registry.SOURCES)
    raw_dir = Path(kwargs.get("raw_dir") or config.data_raw())
    clean_leftovers(raw_dir)
    if progress:
        from tqdm.auto import tqdm

        paths_iter = tqdm(paths, desc="fetch", unit="file")
    else:
        paths_iter = paths
    return [fetch(p, **kwargs) for p in paths_iter]


def clean_leftovers(raw_dir: Path) -> list[Path]:
    """Remove what an interrupted fetch leaves behind (``.part`` copies, temporary manifests,
    download folders); returns what was removed."""
    if not raw_dir.exists():
        return []
    removed = []
    for pattern in (".*.part", ".manifest-*.tmp"):
        for leftover in raw_dir.rglob(pattern):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    for folder in raw_dir.rglob(".download-*"):
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
