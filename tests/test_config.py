from pathlib import Path

from korus_research import config


def test_relative_folders_are_taken_from_the_project_root(monkeypatch):
    monkeypatch.setenv("KORUS_REPORTS", "reports/COL")
    assert config.reports_dir() == config.PROJECT_ROOT / "reports" / "COL"
    monkeypatch.setenv("KORUS_REPORTS", "/somewhere/else")
    assert config.reports_dir() == Path("/somewhere/else")
    monkeypatch.delenv("KORUS_REPORTS")
    assert config.reports_dir() == config.PROJECT_ROOT / "reports"
