"""Each REST API serves a browsable reference at ``{prefix}/docs``, from Tollway itself.

Like ``{prefix}/openapi.json`` the pages need no token (WSO2 serves its swagger documents openly).
Everything the page loads comes from the control plane: no CDN, so it works offline and leaks
nothing about who reads it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support.rest import ADMIN, PUBLISHER, STORE

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tollway"
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}


def assets_of(html: str) -> list[str]:
    """What the page loads: scripts and style sheets (its icon is an empty data: URL)."""
    return re.findall(r'<(?:script[^>]*\bsrc|link rel="stylesheet"[^>]*\bhref)="([^"]+)"', html)


@pytest.mark.parametrize("prefix", [ADMIN, PUBLISHER, STORE])
def test_each_api_has_a_reference_page(http: httpx.Client, prefix: str) -> None:
    page = http.get(f"{prefix}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'spec-url="{prefix}/openapi.json"' in page.text
    assert not re.search(r"https?://", page.text), "the page names another site"
    assets = assets_of(page.text)
    assert assets
    for url in assets:
        assert url.startswith("/"), url
        asset = http.get(url)
        assert asset.status_code == 200, url
        expected = ASSET_TYPES[Path(url).suffix]
        assert asset.headers["content-type"].split(";")[0] == expected, url
        assert len(asset.content) > 100_000  # the bundle itself, not an error page
    # The page's own policy keeps the browser from loading anything from elsewhere.
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy


def test_unknown_assets_are_404(http: httpx.Client) -> None:
    assert http.get("/docs-static/nothing.js").status_code == 404
    assert http.get("/docs-static/..%2Fdocs.py").status_code == 404


def test_the_assets_are_package_data() -> None:
    """A non-editable install takes only the files pyproject's package-data names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tollway"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    static = [path for path in (PACKAGE / "web" / "static").iterdir() if path.is_file()]
    assert static
    assert set(static) <= shipped
