"""``/docs`` that works offline: Swagger UI's files served by this server, not loaded from a CDN.

FastAPI's default ``/docs`` page pulls Swagger UI from a CDN and is blank without internet (and
on a render farm's closed network). The assets come from the ``swagger-ui-bundle`` package
(Apache-2.0, in the ``server`` extra) and are mounted under ``/docs/assets``. ReDoc has no such
package and is not served.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("cafetalk.server")

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"


def install_docs(app: FastAPI) -> bool:
    """Add ``/docs`` to an app made with ``docs_url=None``; True when its assets are local.

    Without ``swagger-ui-bundle`` the page is FastAPI's CDN one and the server says so in its log
    (and the page needs internet); ``pip install 'cafetalk[server]'`` installs the bundle.
    """
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle is not installed: /docs loads Swagger UI from a CDN and is blank "
                    "offline (pip install swagger-ui-bundle)")
        js, css, icon = ("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js",
                         "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css",
                         "https://fastapi.tiangolo.com/img/favicon.png")
        local = False
    else:
        app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
        js, css, icon = (f"{ASSETS_URL}/swagger-ui-bundle.js", f"{ASSETS_URL}/swagger-ui.css",
                         f"{ASSETS_URL}/favicon-32x32.png")
        local = True
    redirect = f"{DOCS_URL}/oauth2-redirect"

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs",
                                   swagger_js_url=js, swagger_css_url=css, swagger_favicon_url=icon,
                                   oauth2_redirect_url=redirect)

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    return local
