import pytest

from korus_research import cli


def test_parameter_values_are_typed():
    assert cli._parse_value("2011") == 2011
    assert cli._parse_value("0.5") == 0.5
    assert cli._parse_value("True") is True
    assert cli._parse_value("KOR") == "KOR"


def test_provenance_command(capsys):
    assert cli.main(["provenance"]) == 0
    out = capsys.readouterr().out
    assert "census/country.xlsx" in out and "| file" in out


def test_run_unknown_notebook(capsys):
    assert cli.main(["run", "99_nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "parameter notebook='99_nope'" in err and "01_balance_overview" in err


def test_bad_study_parameter_is_one_line(capsys):
    assert cli.main(["study", "--partner", "KOR", "--base", "2016", "--compare", "2011"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: parameter base_year=2016") and "valid:" in err
    assert cli.main(["study", "--partner", "XXX"]) == 2
    assert "parameter partner='XXX'" in capsys.readouterr().err
    assert cli.main(["study", "--partner", "CHN", "--entry", "2015/01/01"]) == 2
    assert "parameter entry='2015/01/01'" in capsys.readouterr().err


def test_agreement_partners(capsys):
    assert cli.main(["partners", "--agreements"]) == 0
    partners = capsys.readouterr().out.split()
    assert partners[:3] == ["ISR", "CAN", "MEX"] and "KOR" in partners and "JPN" not in partners and len(partners) == 20


def test_fetch_error_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KORUS_DATA_MIRROR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KORUS_DATA_RAW", str(tmp_path / "raw"))
    assert cli.main(["fetch", "--quiet", "gravity/geo_cepii.rda"]) == 2
    assert "cannot fetch 'gravity/geo_cepii.rda'" in capsys.readouterr().err


def test_failed_notebook_run_is_one_line_and_publishes_nothing(tmp_path, capsys):
    # a bad partner code fails in the notebook's study cell: one line, exit 2, no executed copy in place
    assert cli.main(["run", "01_balance_overview", "-p", "partner", "XXX", "-o", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = [e for e in err if e.startswith("error:")]
    assert len(line) == 1 and "ParameterError: parameter partner='XXX'" in line[0]
    assert not (tmp_path / "01_balance_overview.ipynb").exists()
    assert (tmp_path / "01_balance_overview.failed.ipynb").exists()
    assert not list(tmp_path.glob(".*.running.ipynb"))


def test_unknown_notebook_parameter_is_refused(tmp_path, capsys):
    assert cli.main(["run", "02_decomposition", "-p", "entry_date", "2012-03-15", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "parameter entry_date='2012-03-15' is not valid: not a parameter of notebook 02_decomposition" in err
    assert "data_basis" in err and not list(tmp_path.iterdir())


def test_partner_codes_never_become_paths(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KORUS_REPORTS", str(tmp_path / "reports"))
    assert cli.main(["study", "--partner", "../x"]) == 2
    assert "parameter partner='../x'" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_prepare_on_an_edited_raw_file_is_one_line_and_keeps_the_tables(tmp_path, mirror, monkeypatch, capsys, snap):
    from korus_research import fetch

    raw, out = tmp_path / "raw", tmp_path / "processed"
    out.mkdir()
    (out / "kept.parquet").write_bytes(b"SYNTHETIC stored table")
    fetch.fetch("published/benchmarks.csv", raw_dir=raw, mirror=mirror)
    with open(raw / "published/benchmarks.csv", "a") as fh:
        fh.write("extra,row\n")  # SYNTHETIC edit after the fetch
    monkeypatch.setenv("KORUS_DATA_RAW", str(raw))
    monkeypatch.setenv("KORUS_DATA_PROCESSED", str(out))
    before = snap(out)
    assert cli.main(["prepare", "benchmarks", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data/raw/published/benchmarks.csv: field 'bytes'")
    assert snap(out) == before


@pytest.mark.parametrize("notebook, name, value, valid", [
    ("01_balance_overview", "top_n", "0", "a whole number from 1 to 100"),
    ("02_decomposition", "grouping", "products", "named, section, chapter"),
    ("04_gravity", "panels", "dta,nope", "dta, dta_twoway, dta_directional, oecd, wiod"),
    ("05_macro_drivers", "frequency", "weekly", "annual, quarterly"),
])
def test_bad_notebook_parameter_is_one_line(tmp_path, capsys, notebook, name, value, valid):
    assert cli.main(["run", notebook, "-p", name, value, "-o", str(tmp_path), "--quiet"]) == 2
    lines = [e for e in capsys.readouterr().err.splitlines() if e.startswith("error:")]
    assert len(lines) == 1 and f"ParameterError: parameter {name}=" in lines[0] and f"valid: {valid}" in lines[0]
    assert not (tmp_path / f"{notebook}.ipynb").exists()


def test_an_unexpected_error_is_still_one_line(monkeypatch, capsys):
    from korus_research import registry

    def broken():
        raise RuntimeError("SYNTHETIC failure\nsecond line")
    monkeypatch.setattr(registry, "provenance_table", broken)
    assert cli.main(["provenance"]) == 3
    assert capsys.readouterr().err == ("error: unexpected RuntimeError: SYNTHETIC failure "
                                       "(KORUS_DEBUG=1 shows the traceback)\n")
    monkeypatch.setenv("KORUS_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["provenance"])


def test_run_log_keeps_every_concurrent_entry(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: cli._log_run(tmp_path, f"nb{i:02d}", {"i": i}, 0.1), range(40)))
    import json

    assert len(json.loads((tmp_path / "run_log.json").read_text())) == 40
