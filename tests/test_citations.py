"""Citations: references.bib parses and is complete, tables/citations.csv cites every registry
file, benchmark and method from it, and CITATION.cff is valid CFF 1.2.0."""

from __future__ import annotations

import re
import tomllib
import unicodedata

import pandas as pd
import pytest
import yaml

from korus_research import config, dictionary, registry
from korus_research.errors import DataError, ParameterError

ROOT = config.PROJECT_ROOT
NAME_FIELDS = {"author", "editor", "organization", "institution"}
TYPES = {"article", "book", "incollection", "inproceedings", "techreport", "misc", "manual", "online"}
DOI = re.compile(r"^10\.\d{4,9}/\S+$")
# top-level keys of CFF 1.2.0 (schema.json of citation-file-format 1.2.0: additionalProperties false)
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
            "keywords", "license", "license-url", "message", "preferred-citation", "references", "repository",
            "repository-artifact", "repository-code", "title", "type", "url", "version"}
CFF_ENTITY_KEYS = {"address", "alias", "city", "country", "date-end", "date-start", "email", "fax", "location",
                   "name", "orcid", "post-code", "region", "tel", "website"}
CFF_PERSON_KEYS = {"address", "affiliation", "alias", "city", "country", "email", "family-names", "fax",
                   "given-names", "name-particle", "name-suffix", "orcid", "post-code", "region", "tel", "website"}


@pytest.fixture(scope="module")
def bib() -> dict[str, dictionary.BibEntry]:
    return dictionary.bib_entries()


@pytest.fixture(scope="module")
def cites() -> pd.DataFrame:
    return dictionary.citation_table()


def _problems(entry: dictionary.BibEntry) -> list[str]:
    """What an entry lacks (empty when it is complete)."""
    f = entry.fields
    out = []
    if entry.type not in TYPES:
        out.append(f"type {entry.type}")
    if not re.fullmatch(r"[a-z0-9_]+", entry.key):
        out.append("key not lower-case letters, digits and underscores")
    if not f.get("title", "").strip():
        out.append("no title")
    if not re.fullmatch(r"\d{4}", f.get("year", "")):
        out.append("no four-digit year")
    if not any(f.get(name, "").strip() for name in NAME_FIELDS):
        out.append("no author, editor, organization or institution")
    if entry.type == "article" and not (f.get("journal") and f.get("volume") and f.get("pages")):
        out.append("article without journal, volume or pages")
    if entry.type == "techreport" and not f.get("institution"):
        out.append("techreport without institution")
    if "doi" in f and not DOI.match(f["doi"]):
        out.append(f"doi {f['doi']!r} is not a bare DOI")
    return out


def _benchmark_ids() -> list[str]:
    mirror = config.mirror_dir()
    if mirror is not None and (mirror / "published" / "benchmarks.csv").exists():
        return pd.read_csv(mirror / "published" / "benchmarks.csv", dtype=str, usecols=["id"])["id"].tolist()
    from korus_research import io

    try:
        return io.read_table("benchmarks")["id"].tolist()
    except FileNotFoundError:
        pytest.skip("no published/benchmarks.csv in the mirror and no processed benchmarks table")


def _ascii(text: str) -> str:
    """A name as plain letters: LaTeX accents and braces dropped (``Cu{\\~n}at`` -> ``Cunat``)."""
    text = re.sub(r"\\[^A-Za-z\s]|\\[A-Za-z]+\s*|[{}]", "", text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _docstring_references() -> set[tuple[str, str, str]]:
    """``(module, first author's surname, year)`` of every ``Surname, X. ... (YYYY)`` in a References
    section of the package's docstrings."""
    cited = set()
    pattern = re.compile(r"([A-Z][A-Za-z'\-]+(?: [A-Z][A-Za-z'\-]+)*), [A-Z]\.[^()]*?\((\d{4})\)")
    for path in sorted((ROOT / "src" / "korus_research").glob("*.py")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines[:-1]):
            if line.strip() != "References" or set(lines[i + 1].strip()) != {"-"}:
                continue
            block = []
            for following in lines[i + 2:]:
                if not following.strip() or following.strip().startswith('"""'):
                    break
                block.append(following.strip())
            for surname, year in pattern.findall(" ".join(block)):
                cited.add((path.name, surname, year))
    return cited


def test_every_entry_has_type_key_title_year_and_a_name(bib):
    assert len(bib) >= 100
    problems = {key: _problems(entry) for key, entry in bib.items() if _problems(entry)}
    assert not problems, problems


def test_the_entry_check_can_fail():
    bad = dictionary.parse_bibtex("@article{Bad Key,\n  title = {},\n  year = {20x6},\n  doi = {https://doi.org/10.1/x}\n}\n")
    assert bad == {}  # a key with a space is not an entry
    bad = dictionary.parse_bibtex("@article{bad,\n  title = {},\n  year = {20x6},\n  doi = {https://doi.org/10.1/x}\n}\n")
    assert len(_problems(bad["bad"])) == 5


def test_every_entry_is_read_and_every_key_is_unique(bib):
    text = dictionary.bib_path().read_text(encoding="utf-8")
    starts = re.findall(r"^@([A-Za-z]+)\s*\{\s*([^,\s]+)\s*,", text, flags=re.MULTILINE)
    keys = [key for _, key in starts]
    assert len(keys) == len(set(keys)) == len(bib)
    assert list(bib) == keys
    for entry in bib.values():
        assert entry.text.count("{") == entry.text.count("}"), entry.key


def test_the_parser_refuses_broken_bibtex():
    with pytest.raises(DataError, match="used twice"):
        dictionary.parse_bibtex("@misc{a, title = {x}, year = {2000}}\n@misc{a, title = {y}, year = {2001}}\n")
    with pytest.raises(DataError, match="never closed"):
        dictionary.parse_bibtex("@misc{a, title = {x, year = {2000}\n")
    with pytest.raises(DataError, match="given twice"):
        dictionary.parse_bibtex("@misc{a, title = {x}, title = {y}, year = 2000}\n")
    parsed = dictionary.parse_bibtex('% a comment\n@book{b,\n  title = "T {A}",\n  year = 1999,\n  author = {{Org}}\n}\n')
    assert parsed["b"].fields == {"title": "T {A}", "year": "1999", "author": "{Org}"}


def test_citation_table_is_well_formed(cites):
    assert list(cites.columns) == ["kind", "key", "bibkey"]
    assert set(cites["kind"]) == set(dictionary.KINDS)
    assert (cites != "").all().all()
    duplicated = cites[cites.duplicated()]
    assert duplicated.empty, duplicated.values.tolist()


def test_every_cited_key_is_in_the_bibliography_and_every_entry_is_cited(bib, cites):
    missing = sorted(set(cites["bibkey"]) - set(bib))
    assert not missing, f"keys in citations.csv but not in references.bib: {missing}"
    uncited = sorted(set(bib) - set(cites["bibkey"]))
    assert not uncited, f"entries of references.bib that citations.csv never uses: {uncited}"


def test_every_registry_file_has_a_citation(cites):
    listed = set(cites.loc[cites["kind"] == "registry", "key"])
    assert sorted(set(registry.SOURCES) - listed) == [], "registry files without a citation"
    assert sorted(listed - set(registry.SOURCES)) == [], "citations of files that are not in the registry"


def test_every_published_benchmark_has_a_primary_citation(bib, cites):
    ids = _benchmark_ids()
    rows = cites[cites["kind"] == "benchmark"]
    assert sorted(set(ids) - set(rows["key"])) == [], "benchmark ids without a citation"
    assert sorted(set(rows["key"]) - set(ids)) == [], "citations of benchmark ids that do not exist"
    press = re.compile(r"\b(yonhap|herald|cato|korea economic institute|uskoreaconnect|times|post|news)\b", re.I)
    for key in set(rows["bibkey"]):
        name = " ".join(bib[key].fields.get(f, "") for f in NAME_FIELDS)
        assert not press.search(name), f"{key}: a benchmark cites the press, not the primary publication"
    file_keys = set(cites.loc[(cites["kind"] == "registry") & (cites["key"] == "published/benchmarks.csv"), "bibkey"])
    assert file_keys == set(rows["bibkey"])


def test_every_reference_in_the_docstrings_is_in_the_bibliography(bib):
    cited = _docstring_references()
    assert len(cited) >= 60
    names = [(_ascii(" ".join(e.fields.get(f, "") for f in NAME_FIELDS)), e.fields["year"]) for e in bib.values()]
    missing = sorted((module, surname, year) for module, surname, year in cited
                     if not any(_ascii(surname) in people and year == y for people, y in names))
    assert not missing, ("docstring references without an entry in references.bib (add one, and a "
                         f"`method` row to tables/citations.csv): {missing}")


def test_citations_for_and_bibliography(bib):
    assert dictionary.citations_for("registry", "gravity/dist_cepii.zip") == ["mayer_zignago_2011"]
    assert dictionary.citations_for("benchmark", "russ_swenson_diversion_2013") == ["russ_swenson_2019"]
    assert "callaway_santanna_2021" in dictionary.citations_for("method", "staggered difference-in-differences")
    with pytest.raises(ParameterError, match="kind"):
        dictionary.citations_for("paper", "x")
    with pytest.raises(ParameterError, match="not in tables/citations.csv"):
        dictionary.citations_for("registry", "census/nothing.xlsx")
    text = dictionary.bibliography(["gagnon_2003", "russ_swenson_2019", "gagnon_2003"])
    assert text.count("@techreport{gagnon_2003,") == 1 and text.index("gagnon_2003") < text.index("russ_swenson")
    assert dictionary.parse_bibtex(text).keys() == {"gagnon_2003", "russ_swenson_2019"}
    with pytest.raises(ParameterError, match="not in the bibliography"):
        dictionary.bibliography(["no_such_entry"])
    assert list(dictionary.parse_bibtex(dictionary.bibliography())) == list(bib)


def test_citation_cff_is_valid_cff_1_2_0():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"cff-version", "message", "title", "authors"} <= set(cff)
    assert not set(cff) - CFF_KEYS, f"keys CFF 1.2.0 does not allow: {sorted(set(cff) - CFF_KEYS)}"
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == "korus-research" and cff["message"].strip()
    assert cff["type"] in {"software", "dataset"}
    assert isinstance(cff["authors"], list) and cff["authors"]
    for author in cff["authors"]:
        if "name" in author:
            assert not set(author) - CFF_ENTITY_KEYS and author["name"].strip()
        else:
            assert not set(author) - CFF_PERSON_KEYS and author.get("family-names")
    assert cff["authors"] == [{"name": "korus-research contributors"}]
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"] == "MIT"
    assert isinstance(cff["date-released"], str)  # quoted: a YAML date would not validate as a string
    assert re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", cff["date-released"])
    assert len(cff.get("keywords", [])) == len(set(cff.get("keywords", [])))
    for key in ("url", "repository", "repository-code", "repository-artifact", "license-url"):
        assert key not in cff or re.match(r"^(https|http|ftp|sftp)://.+", cff[key]), key
    if "preferred-citation" in cff:
        assert {"authors", "title", "type"} <= set(cff["preferred-citation"])


def test_the_citation_table_ships_with_the_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "tables/*.csv" in pyproject["tool"]["setuptools"]["package-data"]["korus_research"]
    assert (ROOT / "src" / "korus_research" / "tables" / "citations.csv").exists()
