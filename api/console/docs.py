"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from assets the app serves itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN: blank on a machine
without internet. These pages use the copies vendored under
``api/console/static/vendor/`` (``swagger-ui-dist`` 5 and ``redoc`` 2 from the npm
registry, their licences beside them), following FastAPI's "self-hosting JavaScript
and CSS for docs"; ReDoc without Google Fonts, Swagger UI without its online validator
badge. ``static/vendor/VENDORED.md`` lists the versions and the one line changed.
"""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (get_redoc_html, get_swagger_ui_html,
                                  get_swagger_ui_oauth2_redirect_html)
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect and ``/redoc`` (the app is built with
    ``docs_url=None, redoc_url=None``)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None})   # no badge from validator.swagger.io

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json",
                              title=f"{app.title} - API", redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
                              redoc_favicon_url="/static/favicon.svg", with_google_fonts=False)
