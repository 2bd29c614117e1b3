"""Templates and error pages of the console.

One Jinja2 environment over ``templates/`` (autoescaping on: every value is HTML-escaped
unless a template marks it safe, which only the inline SVG charts and the invoice page
built by ``engine.invoice`` are). :class:`ConsoleRoute` turns what a console route
raises into a page instead of problem+json: not signed in -> a redirect to the sign-in
page (with ``next``); a role that may not -> 403 page; a bad path or query -> 400/422
page; not found -> 404; a conflict -> 409; nothing is changed by a refused request.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine.errors import M2CError

from ..problems import ProblemError, _status_for, public_text

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


class SignInRequired(Exception):
    """No live session: the page redirects to the sign-in form."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def _money(value: Any, currency: str = "USD") -> str:
    from engine.invoice import format_money
    return format_money(None if value is None else str(value), currency)


def _group(value: Any) -> str:
    from engine.invoice import group_digits
    return group_digits(None if value is None else str(value))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
env.filters.update(money=_money, group=_group, pct=_pct, urlquote=lambda v: quote(str(v), safe=""))


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the session (``request.state.session``) and ``context``."""
    session = getattr(request.state, "session", None)
    body = env.get_template(template).render(request=request, session=session,
                                              policy=session.principal.policy if session else None,
                                              **context)
    return HTMLResponse(body, status_code=status_code,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN",
                                 "Referrer-Policy": "same-origin"})


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    title = HTTPStatus(status).phrase
    return page(request, "error.html", status_code=status, status=status, title=title,
                detail=detail)


class ConsoleRoute(APIRoute):
    """Console routes answer errors with pages (module docstring)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.headers.get("HX-Request"):      # htmx: the whole page goes to sign-in
                    return Response(status_code=401, headers={"HX-Redirect": "/console/sign-in"})
                return RedirectResponse(f"/console/sign-in?next={quote(target, safe='')}", status_code=303)
            except CsrfRefused:
                return error_page(request, 403, "This form was not sent from a page of this console "
                                                "session (its CSRF token is missing or wrong); nothing "
                                                "was changed. Reload the page and try again.")
            except ProblemError as exc:
                return error_page(request, exc.status, exc.detail or exc.title)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return error_page(request, 422, public_text(f"{where}: {first.get('msg', 'invalid')}",
                                                            (), 300))
            except M2CError as exc:
                status, _ = _status_for(exc)
                if status >= 500:
                    logger.error("console %s %s failed", request.method, request.url.path, exc_info=exc)
                    return error_page(request, status, "The server could not do this; the error was "
                                                       "logged.")
                settings = request.app.state.ctx.settings
                return error_page(request, status, public_text(str(exc), settings.server_paths()))
        return route
