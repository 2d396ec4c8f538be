"""No key or token in any notebook or report output."""

from __future__ import annotations

import os
import re

from korus_research import config

KEY_LIKE = [
    re.compile(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"),  # BEA-style keys
    re.compile(r"(api[_-]?key|token|secret|userid)\s*[=:]\s*['\"]?[A-Za-z0-9]{16,}", re.IGNORECASE),
]


def _files():
    roots = [config.notebooks_dir(), config.reports_dir()]
    for root in roots:
        if root.exists():
            for path in root.rglob("*"):
                if path.is_file() and path.suffix in {".ipynb", ".html", ".json", ".txt", ".md", ".log"}:
                    yield path


def test_no_key_in_notebooks_or_reports():
    key = os.environ.get("BEA_API_KEY", "")
    scanned = 0
    for path in _files():
        text = path.read_text(errors="replace")
        text = re.sub(r'"image/png": "[^"]*"', "", text)  # figures are base64, not text
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
        if key:
            assert key not in text, f"{path.name} holds the BEA key"
        for pattern in KEY_LIKE:
            assert not pattern.search(text), f"{path.name}: key-like string {pattern.search(text).group(0)[:12]}..."
        scanned += 1
    assert scanned >= 1
