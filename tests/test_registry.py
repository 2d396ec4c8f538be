import re

import pytest

from korus_research import registry


def test_every_mirror_file_is_registered_with_its_checksum(mirror):
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        sums[path.removeprefix("./")] = digest
    assert set(sums) - {"README.md"} == set(registry.SOURCES)
    for path, digest in sums.items():
        assert registry.SOURCES[path].sha256 == digest, path
        assert registry.SIZES[path] == (mirror / path).stat().st_size, path


def test_entries_are_complete():
    for source in registry.SOURCES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        assert source.agency and source.licence and source.url and source.vintage
        assert source.path in registry.SIZES


def test_parsers_named_in_the_registry_exist():
    from korus_research import parsers

    for source in registry.SOURCES.values():
        if source.parser:
            assert callable(getattr(parsers, source.parser)), source.parser


def test_unknown_file_gives_a_clear_error():
    with pytest.raises(KeyError, match="not in the source registry"):
        registry.get("census/nope.xlsx")


def test_provenance_table_has_every_file():
    table = registry.provenance_table()
    assert len(table) == len(registry.SOURCES)
    assert {"file", "agency", "licence", "official address", "sha256", "vintage"} <= set(table.columns)
