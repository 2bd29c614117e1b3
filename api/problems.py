"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

One place maps the meter2cash error tree (``engine.errors``) and the framework's own
errors to HTTP:

======================================  ======  ==========================================
error                                   status  problem ``type``
======================================  ======  ==========================================
request body/query fails its schema     422     ``…/problems/invalid-request``
``InputError`` (and subclasses)         400     ``…/problems/invalid-input``
``IdempotencyConflict``                 422     ``…/problems/idempotency-key-reuse``
``NotFoundError``                       404     ``…/problems/not-found``
``ConflictError``                       409     ``…/problems/conflict``
request body over the size limit        413     ``…/problems/request-too-large``
``IntegrityError`` (tampered object)     500     ``…/problems/integrity`` (names the object)
``StorageError`` (object store down)     503     ``…/problems/storage-unavailable``
missing/unknown API key                 401     ``…/problems/unauthenticated``
role may not do this                    403     ``…/problems/forbidden``
anything else                           500     ``…/problems/internal`` (no traceback)
plain HTTP errors (404 route, 405)      …       ``about:blank`` (RFC 9457 §4.2.1)
======================================  ======  ==========================================

Tracebacks are logged server side with the request id; the body never carries one.
Details that leave the server go through :func:`public_text`: the server's absolute
paths (home, file store, catalog) become relative names (an object's store key), and
a detail is cut at :data:`MAX_DETAIL_CHARS`; field-level errors are capped at
:data:`MAX_ERRORS`, each location part at 64 characters: an error never echoes a
whole request.
:class:`BodySizeLimit` refuses a request body larger than
``Settings.api_max_body_bytes`` (``M2C_API_MAX_BODY_BYTES``, 1 MiB by default) before
any route reads it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (ConflictError, InputError, IntegrityError, M2CError, NotFoundError,
                           StorageError)
from jobs.catalog import IdempotencyConflict

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://meter2cash.dev/problems/"
#: the longest ``detail`` (or job error message) the API returns
MAX_DETAIL_CHARS = 2000
#: the most field-level errors one problem lists
MAX_ERRORS = 20


def public_text(text: str, server_paths: Iterable[str] = (), limit: int = MAX_DETAIL_CHARS) -> str:
    """``text`` fit to leave the server: each of ``server_paths`` (absolute folders or
    files: the home, a ``file://`` store root, the SQLite catalog) replaced by a
    relative name, and the whole cut to ``limit`` characters (saying how long it was)."""
    for path in sorted({p.rstrip("/") for p in server_paths if p and p != "/"}, key=len,
                       reverse=True):
        text = text.replace(path + "/", "").replace(path, "<server>")
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters; cut)"
    return text


def _server_paths(request: Request) -> tuple[str, ...]:
    ctx = getattr(request.app.state, "ctx", None)
    settings = getattr(ctx, "settings", None)
    return settings.server_paths() if settings is not None else ()


def problem_type(slug: str) -> str:
    """The absolute problem-type URI for ``slug`` (e.g. ``idempotency-key-reuse``)."""
    return PROBLEM_BASE + slug


class Problem(BaseModel):
    """An RFC 9457 problem-details document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="URI identifying the problem type.")
    title: str = Field(description="Short, human-readable summary of the problem type.")
    status: int = Field(description="HTTP status code of this occurrence.")
    detail: str | None = Field(None, description="Explanation specific to this occurrence.")
    instance: str | None = Field(None, description="URI reference of the request that failed.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Field-level errors (location, message) for invalid requests.")


class ProblemError(Exception):
    """Raise from a route to answer with a specific problem document."""

    def __init__(self, status: int, slug: str | None, detail: str | None = None, *,
                 title: str | None = None, headers: dict[str, str] | None = None,
                 **extensions: Any):
        self.status = status
        self.type = problem_type(slug) if slug else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = headers
        self.extensions = extensions
        super().__init__(detail or self.title)


def problem_response(status: int, *, type_: str = "about:blank", title: str | None = None,
                     detail: str | None = None, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title or HTTPStatus(status).phrase,
                            "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)


PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting ``statuses`` as ``application/problem+json``.

    The ``Problem`` schema is added to ``components`` by :func:`install_problem_handlers`.
    """
    return {s: {"description": HTTPStatus(s).phrase,
                "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA_REF}}}
            for s in statuses}


def _with_problem_schema(app: FastAPI) -> None:
    """Generate OpenAPI as usual, then register the Problem schema in ``components``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _instance(request: Request) -> str:
    return request.url.path


_TITLES = {
    "idempotency-key-reuse": "Idempotency-Key reused with a different request",
    "invalid-input": "Invalid input",
    "not-found": "Not found",
    "conflict": "Conflict with the current state",
    "storage-unavailable": "Object store unavailable",
    "integrity": "Stored object failed its integrity check",
}


def _status_for(exc: M2CError) -> tuple[int, str]:
    if isinstance(exc, IdempotencyConflict):
        return 422, "idempotency-key-reuse"
    if isinstance(exc, InputError):
        return 400, "invalid-input"
    if isinstance(exc, NotFoundError):
        return 404, "not-found"
    if isinstance(exc, ConflictError):
        return 409, "conflict"
    if isinstance(exc, IntegrityError):
        return 500, "integrity"
    if isinstance(exc, StorageError):
        return 503, "storage-unavailable"
    return 500, "internal"


def _json_body_hint(request: Request, errors: list[dict[str, Any]]) -> str:
    """A hint when a body error comes from a body that was not sent as JSON (``curl -d``
    sends ``application/x-www-form-urlencoded`` unless told otherwise)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return ""
    if not any(e["loc"][:1] == ["body"] for e in errors):
        return ""
    sent = f"Content-Type {media!r}" if media else "no Content-Type"
    return (f" (the body was sent with {sent}: send JSON with the header "
            "`Content-Type: application/json`)")


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json (and its schema)."""
    _with_problem_schema(app)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, type_=exc.type, title=exc.title, detail=exc.detail,
                                instance=_instance(request), headers=exc.headers,
                                **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        def part(p: Any) -> Any:
            return p if isinstance(p, int) else public_text(str(p), (), 64)

        errors = [{"loc": [part(p) for p in e.get("loc", ())],
                   "msg": public_text(str(e.get("msg", "")), (), 300), "type": e.get("type", "")}
                  for e in exc.errors()[:MAX_ERRORS]]
        first = errors[0] if errors else None
        detail = (f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first
                  else "the request does not match its schema")
        detail += _json_body_hint(request, errors)
        return problem_response(422, type_=problem_type("invalid-request"),
                                title="Invalid request", detail=detail,
                                instance=_instance(request), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if detail == HTTPStatus(exc.status_code).phrase:
            detail = None
        return problem_response(exc.status_code, detail=detail, instance=_instance(request),
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(M2CError)
    async def _domain(request: Request, exc: M2CError) -> JSONResponse:
        status, slug = _status_for(exc)
        if status == 503:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
            return problem_response(503, type_=problem_type(slug), title=_TITLES[slug],
                                    detail="the object store did not answer; retry shortly",
                                    instance=_instance(request), headers={"Retry-After": "5"})
        if slug == "integrity":
            logger.error("%s %s: %s", request.method, request.url.path, exc)
            return problem_response(500, type_=problem_type(slug), title=_TITLES[slug],
                                    detail=public_text(str(exc), _server_paths(request)),
                                    instance=_instance(request))
        if status >= 500:
            logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return problem_response(500, type_=problem_type("internal"),
                                    title="Internal server error",
                                    detail="the server failed to process the request; "
                                           "the error was logged",
                                    instance=_instance(request))
        paths = _server_paths(request)
        fields = {}
        for attr in ("file", "line", "field"):
            value = getattr(exc, attr, None)
            if value is not None:
                fields[attr] = public_text(value, paths, 200) if isinstance(value, str) else value
        return problem_response(status, type_=problem_type(slug), title=_TITLES.get(slug),
                                detail=public_text(str(exc), paths),
                                instance=_instance(request), **fields)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, type_=problem_type("internal"),
                                title="Internal server error",
                                detail="the server failed to process the request; the error was logged",
                                instance=_instance(request))


class BodySizeLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` is answered 413
    (problem+json) before the application reads it.

    A ``Content-Length`` above the limit is refused at once; a body without one
    (chunked) is read up to the limit and refused as soon as it passes it. Within the
    limit, the buffered body is handed to the application unchanged."""

    def __init__(self, app: Any, max_bytes: int, exempt: tuple[str, ...] = ()):
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(self.exempt or ("\0",)):
            # (an exempt path, e.g. file uploads, enforces its own, larger limit)
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False               # the server refuses a malformed length
            if too_large:
                await self._refuse(scope, send)
                return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break                           # http.disconnect: let the app see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            if not message.get("more_body", False):
                break
        pending = iter(messages)

        async def replay() -> dict:
            for message in pending:
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, send: Any) -> None:
        body = json.dumps({
            "type": problem_type("request-too-large"), "title": "Request body too large",
            "status": 413,
            "detail": f"the request body is larger than the {self.max_bytes:,}-byte limit "
                      "(M2C_API_MAX_BODY_BYTES)",
            "instance": scope.get("path", "")}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
