"""A browsable reference for each REST API at ``{prefix}/docs`` (Redoc over ``{prefix}/openapi.json``).

Redoc is vendored in ``static/`` as published: npm package ``redoc`` 2.5.4,
``bundles/redoc.standalone.js`` (sha256 dcaf7661...9500b) with its licence and the notices of what
it bundles. The page loads nothing from another site (no CDN): the one image Redoc fetches from its
maker's CDN (a logo beside "API docs by Redocly") is served as an empty ``data:`` URL, which Redoc
then hides, and the page's content security policy allows this origin only. So the reference works
offline and tells no third party who reads it. No token is needed, as for the documents
themselves (WSO2 serves its swagger documents openly too).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from tollway.errors import NotFound
from tollway.web.openapi import DOCUMENTS, WHOLE_APP, document_url

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_URL = "/docs-static"
ASSETS = {"redoc.standalone.js": "text/javascript"}
_EXTERNAL_LOADS = (b"https://cdn.redoc.ly/redoc/logo-mini.svg",)
# Redoc styles itself with inline <style> elements and searches in a worker it starts from a blob.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
        "img-src 'self' data:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
</head>
<body>
<redoc spec-url="{spec_url}" hide-hostname="true"></redoc>
<script src="{script_url}"></script>
</body>
</html>
"""


def docs_url(prefix: str) -> str:
    return prefix + "/docs"


def page(prefix: str) -> str:
    title, _, _ = DOCUMENTS[prefix]
    return _PAGE.format(
        title=escape(title),
        spec_url=escape(document_url(prefix)),
        script_url=f"{ASSETS_URL}/redoc.standalone.js",
    )


def _page_endpoint(prefix: str) -> Callable[[], Response]:
    html = page(prefix)

    def reference() -> Response:
        return HTMLResponse(html, headers=PAGE_HEADERS)

    return reference


router = APIRouter(include_in_schema=False)
for _prefix in DOCUMENTS:
    if _prefix != WHOLE_APP:
        router.add_api_route(docs_url(_prefix), _page_endpoint(_prefix), methods=["GET"])


@cache
def asset_bytes(name: str) -> bytes:
    """The vendored file, its loads from other sites pointed at nothing (see above)."""
    content = (STATIC_DIR / name).read_bytes()
    for url in _EXTERNAL_LOADS:
        content = content.replace(url, b"data:,")
    return content


@router.get(ASSETS_URL + "/{name}")
def asset(name: str) -> Response:
    media_type = ASSETS.get(name)  # only the files named here: no path from the request reaches the disk
    if media_type is None:
        raise NotFound("no such file")
    return Response(
        asset_bytes(name), media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
