"""``/v1/ingest/{table}``: meter, price, index, ISO award and statement files in by upload
(the HTTP twin of ``m2c ingest meter|prices|index|awards|statements FILE...``).

Two ways to send files:

* ``multipart/form-data`` with one or more ``file`` parts (each with its file name):
  every file of one request is validated before anything is written, and they land
  in one commit or not at all, exactly as the files of one ``m2c ingest`` call;
* a raw body (any other content type) holding one file, named by ``?filename=``.

The file name matters: meter files are told apart by extension (``.csv``,
``.parquet``) unless ``?format=`` says it or the file starts with a NEM12 ``100``
record, and it is recorded as the rows' source. Uploads are limited to
``M2C_API_MAX_UPLOAD_BYTES`` per request (413 beyond) and spooled to a private temporary
folder removed after the call. Ingest is idempotent by content: the same bytes sent
again add nothing (**200**; a new data version is **201**). Scheduler, analyst and
admin keys.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from .. import views
from ..auth import Principal, require_ingest
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import ProblemError, problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/ingest", tags=["ingest"])

MAX_FILES = 1000
_CHUNK = 1024 * 1024

_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                    "description": "One or more files (repeat the part)."}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                     "description": "One file; name it with `?filename=`."},
    },
}


class _TooLarge(Exception):
    pass


def too_large(limit: int) -> ProblemError:
    return ProblemError(413, "request-too-large",
                        f"the upload is larger than the {limit:,}-byte limit "
                        "(M2C_API_MAX_UPLOAD_BYTES); send fewer or smaller files per request",
                        title="Upload too large")


def _limited(receive: Callable[[], Awaitable[dict]], limit: int) -> Callable[[], Awaitable[dict]]:
    """``receive`` that raises :class:`_TooLarge` once the body passes ``limit`` bytes."""
    seen = 0

    async def wrapped() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
        return message
    return wrapped


def safe_name(raw: str | None) -> str:
    """The base name of an uploaded file (no folders, nothing hidden behind ``..``)."""
    name = PurePosixPath((raw or "").replace("\\", "/")).name.strip()
    if not name or name in (".", "..") or len(name) > 255 or "\x00" in name:
        raise ProblemError(400, "invalid-input",
                           f"each uploaded file needs a plain file name (got {str(raw)[:80]!r}): "
                           "name a raw body with ?filename=NAME", title="Invalid input")
    return name


async def _save_multipart(request: Request, folder: Path, limit: int) -> list[Path]:
    limited = Request(request.scope, _limited(request.receive, limit))
    form = await limited.form(max_files=MAX_FILES, max_fields=10)
    try:
        paths = []
        for i, (field, value) in enumerate(form.multi_items()):
            if not isinstance(value, UploadFile):
                raise ProblemError(400, "invalid-input", f"form field {field!r} is not a file; "
                                   "send files as `file` parts", title="Invalid input")
            target = folder / str(i) / safe_name(value.filename)
            target.parent.mkdir()
            with target.open("wb") as out:
                await run_in_threadpool(shutil.copyfileobj, value.file, out, _CHUNK)
            paths.append(target)
        return paths
    finally:
        await form.close()


async def _save_raw(request: Request, folder: Path, limit: int, filename: str | None) -> list[Path]:
    if not filename:
        raise ProblemError(400, "invalid-input", "a raw upload needs ?filename=NAME (or send "
                           "multipart/form-data with file parts)", title="Invalid input")
    target = folder / safe_name(filename)
    size = 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge()
            out.write(chunk)
    return [target]


@router.post(
    "/{table}", status_code=201, summary="Ingest files by upload",
    description="Validate every uploaded file and append their rows to the table in one "
                "commit (all or nothing: a bad row rejects the call, naming file, line and "
                "field, and nothing is written). **201** with the report when a new data "
                "version was written; **200** when every row was already current.",
    openapi_extra={"requestBody": _BODY},
    responses={200: {"description": "Nothing new: the report."},
               201: {"description": "Written: the report with the new data version."},
               **problem_responses(400, 401, 403, 413, 422, 500, 503)},
)
async def ingest(ctx: Ctx, _: Annotated[Principal, Depends(require_ingest)], request: Request,
                 response: Response,
                 table: Literal["meter", "prices", "index", "awards", "statements", "grid_factors"],
                 filename: Annotated[str | None, Query(max_length=255, description=(
                     "Name of the file in a raw (non-multipart) body."))] = None,
                 format: Annotated[Literal["csv", "parquet", "nem12"] | None, Query(description=(
                     "Meter files only: the input format (default: NEM12 if the file starts "
                     "with a 100 record, else by extension)."))] = None) -> dict[str, Any]:
    limit = ctx.settings.api_max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix="m2c-upload-") as tmp:
        try:
            if media == "multipart/form-data":
                paths = await _save_multipart(request, Path(tmp), limit)
            else:
                paths = await _save_raw(request, Path(tmp), limit, filename)
        except _TooLarge:
            raise too_large(limit) from None
        report = await run_in_threadpool(views.ingest_files, ctx.store(), table, paths,
                                         file_format=format, now_utc=ctx.clock())
    response.status_code = 201 if report.get("written") else 200
    return report
