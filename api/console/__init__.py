"""The web console: server-rendered pages on the API's own process, with the API's roles.

``install(app)`` adds to the FastAPI app of :func:`api.app.create_app`:

* ``/static/...``: every asset the pages use, served by the app itself (htmx, Swagger
  UI, ReDoc, the console's CSS, the invoice fonts): nothing is loaded from another host;
* ``/`` and ``/console/...`` (:mod:`api.console.pages`): sign-in with an API key
  (a server-side session, :mod:`api.console.sessions`), jobs, invoices, contracts,
  results of other job kinds (scenarios, bankability, ...), meter-data quality,
  webhooks;
* ``/docs`` and ``/redoc`` (:mod:`api.console.docs`), offline.

Modules: ``pages`` (routes), ``sessions`` (sessions, CSRF), ``render`` (templates,
error pages), ``pdf`` (invoice PDFs), ``vee`` (the quality chart), ``docs``.
"""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .render import STATIC
from .sessions import Sessions

__all__ = ["install", "ConsoleState"]


@dataclass
class ConsoleState:
    sessions: Sessions


def install(app: FastAPI) -> None:
    from .docs import install_docs
    from .pages import router
    ctx = app.state.ctx
    app.state.console = ConsoleState(Sessions(ctx.catalog, ctx.keys))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    install_docs(app)
    app.include_router(router)
