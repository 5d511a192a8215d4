"""The OpenAPI document's viewers: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with no outside host.

FastAPI's own pages load their scripts, styles and favicon from a CDN and ReDoc's fonts from Google
Fonts, so they are blank offline and tell those hosts who reads the docs. These pages load everything
from the app's own origin: the UI bundles ship in the ``fastapi-offline`` package (a dependency of
Capstan) and are served under ``/docs/assets``; ReDoc gets no web fonts (it falls back to the
browser's), and Swagger UI asks no outside validator.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
REDOC = "/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
ASSETS = "/docs/assets"
#: Swagger UI's scripts and style, ReDoc's script and a favicon, as the package ships them.
ASSET_FILES = Path(str(files("fastapi_offline") / "static"))


def install_docs_pages(app: FastAPI) -> list[str]:
    """Serve the two viewers of ``app.openapi_url`` and their assets; the paths they answer under
    (to be left open by the request gates)."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_FILES), name="docs-assets")
    title = app.title

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}", swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None})

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{title} - ReDoc",
                              redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False)

    return [DOCS, REDOC]
