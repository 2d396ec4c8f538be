"""Shared fixtures. Frames built inside tests are small synthetic examples, labelled so."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from korus_research import config

# the tests check the pinned releases (the registry's checksums) unless a test asks for the locked ones
os.environ["KORUS_VINTAGES"] = "pinned"


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = config.mirror_dir()
    if path is None:
        pytest.skip("no offline data mirror (../shared/korus-data or KORUS_DATA_MIRROR)")
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (to assert that nothing changed)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def snap():
    return snapshot


@pytest.fixture
def waits(monkeypatch):
    """The waits an API client asked for (korus_research.apiclient.sleep; none is slept)."""
    from korus_research import apiclient

    asked: list[float] = []
    monkeypatch.setattr(apiclient, "sleep", asked.append)
    return asked
