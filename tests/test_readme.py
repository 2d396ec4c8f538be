from korus_research import cli, config


def test_readme_provenance_table_is_current(capsys):
    cli.main(["provenance"])
    generated = capsys.readouterr().out.strip()
    readme = (config.PROJECT_ROOT / "README.md").read_text()
    block = readme.split("<!-- provenance:start -->")[1].split("<!-- provenance:end -->")[0].strip()
    assert block == generated, "README provenance table is stale: paste `korus-research provenance`"
