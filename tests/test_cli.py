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


def test_run_unknown_notebook():
    import pytest

    with pytest.raises(SystemExit, match="not found in notebooks/"):
        cli.run_notebook("99_nope", {})


def test_fetch_error_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KORUS_DATA_MIRROR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KORUS_DATA_RAW", str(tmp_path / "raw"))
    assert cli.main(["fetch", "--quiet", "gravity/geo_cepii.rda"]) == 2
    assert "cannot fetch 'gravity/geo_cepii.rda'" in capsys.readouterr().err
