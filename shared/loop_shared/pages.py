"""What every node serves to people: its page at `/`, shared static files, and `/docs` that work offline.

Nodes run on robots and factory PCs without internet, so nothing here loads from a CDN: Swagger UI comes from
the `fastapi-offline` package, the shared stylesheet and scripts from `loop_shared/static/`, and each
node's page and script from its own `static/` folder. A page is a small static HTML file whose script reads the
node's JSON routes; there is no build step. URLs: `/static/shared/...` (this package's files),
`/static/docs/...` (Swagger UI), `/static/...` (the node's own). There is no `/redoc`: ReDoc loads its logo from
its CDN whatever it is told.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/static"
SHARED_URL = "/static/shared"
DOCS_ASSETS_URL = "/static/docs"
SHARED_DIR = Path(__file__).with_name("static")
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).with_name("static")


def install_pages(app: FastAPI, static_dir: Path) -> None:
    """Serve the node's `static_dir/index.html` at `/` and its files under `/static`, the shared stylesheet and
    script under `/static/shared`, and Swagger UI at `/docs` from local assets.

    Create the app with `docs_url=None, redoc_url=None`; this installs `/docs` instead.
    """
    index = static_dir / "index.html"
    # the more specific mounts first: a mount matches every path below it
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    app.mount(SHARED_URL, StaticFiles(directory=SHARED_DIR), name="shared-static")
    app.mount(STATIC_URL, StaticFiles(directory=static_dir), name="static")
    title = app.title

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers={"cache-control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{title} - API",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{SHARED_URL}/favicon.svg",
                                   # no badge from validator.swagger.io: the page makes no request off the node
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
