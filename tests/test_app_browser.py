"""The Bokeh explorer app (``make app``): its document built in Python, then the running server
driven in Debian's Chromium, headless, through Playwright (no browser download). Both read the
default study's results (skipped until ``make`` has built them); the browser test is skipped
with a message where Playwright or Chromium is missing.

The screenshot of the page after a control changed is saved to ``/tmp/explorer.png``
(``KORUS_SCREENSHOTS`` names another folder).
"""

from __future__ import annotations

import html
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from korus_research import explorer, synthesis
from korus_research.explorer import DESIGN_NAMES, Explorer

CHROMIUM = os.environ.get("KORUS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("KORUS_SCREENSHOTS", "/tmp"))


@pytest.fixture(scope="module")
def default_views():
    """The default study's view with every design, and with the headline's design set aside (the core's)."""
    ex = Explorer()
    sel = ex.select()
    if not sel.exists or sel.folder != explorer.default_folder():
        pytest.skip("the default study's results are not in the store (run make)")
    every = ex.view()
    if every.headline["design"] is None:
        pytest.skip("the default study has no headline to set aside")
    without = ex.view(designs=[d for d in DESIGN_NAMES if d != every.headline["design"]])
    return every, without


def _text(div_html: str) -> str:
    return html.unescape(div_html.split(">", 1)[1].rsplit("<", 1)[0])


def test_the_app_document_follows_the_controls(default_views):
    pytest.importorskip("bokeh")
    from bokeh.document import Document

    from korus_research.app import ExplorerApp

    every, without = default_views
    app = ExplorerApp(Document())
    assert _text(app.headline.text) == every.headline_text()
    assert list(app.attribution.source.data["c0"]) == list(every.attribution.index)
    rank = DESIGN_NAMES.index(every.headline["design"])
    app.designs.active = [k for k in range(len(DESIGN_NAMES)) if k != rank]
    assert _text(app.headline.text) == without.headline_text()
    row = list(app.attribution.source.data["c0"]).index(synthesis.GE_HEADLINE) \
        if without.headline["design"] is not None else None
    if row is not None:
        assert app.attribution.source.data["c1"][row] == explorer._bn(without.headline["estimate"], unit=False).lstrip("+")
    faded = dict(zip(app._points.data["estimator"], app._points.data["alpha"], strict=True))
    assert faded[every.headline["estimator"]] < 1
    app._on_reset()
    assert _text(app.headline.text) == every.headline_text()
    app.base.value = str(every.study.base_year + 1)               # a study not in the store: nothing shown, run offered
    assert "not in the results store" in app.status.text and not app.run.disabled and app.headline.text == ""


@pytest.fixture(scope="module")
def server():
    """The app on a free port, in a child process (as ``make app`` starts it)."""
    pytest.importorskip("bokeh")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, "-m", "korus_research.app", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    url, seen = None, []
    try:
        while url is None:
            line = lines.get(timeout=30)
            seen.append(line)
            if "KORUS explorer on " in line:
                url = line.split(" on ", 1)[1].split()[0]
    except queue.Empty:
        proc.kill()
        pytest.fail("the explorer did not start within 30 s: " + "".join(seen[-5:]))
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_the_explorer_in_chromium(default_views, server):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright; no browser download)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (the browser tests use the system browser)")
    every, without = default_views
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server)
            headline = page.locator("#headline")
            # the default study's headline and attribution, as the core computes them
            expect(headline).to_have_text(every.headline_text(), timeout=20_000)
            expect(page.locator("#status")).to_contain_text("default study")
            for component in every.attribution.index:
                expect(page.locator(".slick-cell", has_text=component).first).to_be_visible()
            agreement_row = page.locator(".slick-row", has_text=synthesis.GE_HEADLINE).first
            expect(agreement_row).to_contain_text(explorer._bn(every.headline["estimate"], unit=False).lstrip("+"))
            # set the headline's design aside: the headline and the attribution's agreement row follow
            rank = DESIGN_NAMES.index(every.headline["design"])
            page.get_by_text(f"{rank + 1}. {every.headline['design']}", exact=True).click()
            expect(headline).to_have_text(without.headline_text(), timeout=5_000)
            assert without.headline_text() != every.headline_text()
            if without.headline["design"] is not None:
                expect(agreement_row).to_contain_text(
                    explorer._bn(without.headline["estimate"], unit=False).lstrip("+"))
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "explorer.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
