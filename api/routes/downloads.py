"""``/v1/invoices/{contract}/{period}/detail.parquet``: an invoice's interval detail as a file.

The interval-level rows behind every line of a version (the latest, or ``?version=N``),
as published (Parquet). Analysts and admins only, like ``?detail=intervals``.

On an S3 store the answer is a **307 redirect to a presigned URL** (valid 15 minutes):
the client downloads straight from the object store, and the API never holds the
file. The object is checked against the invoice's committed manifest first (its
SHA-256 as the server recorded it at upload, and its size: ``storage.links``); with
``?redirect=false`` the link comes back as JSON instead (``url``, ``expires_at``,
``sha256``, ``size``). On a local store, or for an object the server holds no
SHA-256 for, the API reads the file, verifies it against the manifest and sends it.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ..auth import Principal, require_interval_detail
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses
from .invoices import CONTRACT_PATTERN, PERIOD_PATTERN

router = APIRouter(prefix=f"{API_PREFIX}/invoices", tags=["invoices"])

PARQUET = "application/vnd.apache.parquet"


@router.get(
    "/{contract}/{period}/detail.parquet", summary="Download an invoice's interval detail",
    response_class=Response,
    description="The interval-level rows behind the invoice's lines, as a Parquet file: a "
                "redirect to a short-lived download link on an S3 store, the file itself "
                "on a local store. Analyst and admin only.",
    responses={200: {"description": "The Parquet file (local store, or `redirect=false`: "
                                    "the link as JSON).",
                     "content": {PARQUET: {"schema": {"type": "string", "format": "binary"}},
                                 "application/json": {"schema": {"type": "object"}}}},
               307: {"description": "Redirect to a presigned download URL (S3 store)."},
               **problem_responses(401, 403, 404, 422, 500, 503)},
)
def get_invoice_detail_file(
    ctx: Ctx, principal: Annotated[Principal, Depends(require_interval_detail)],
    contract: Annotated[str, Path(description="Contract id.", pattern=CONTRACT_PATTERN)],
    period: Annotated[str, Path(description="Billing period YYYY-MM (contract-local month).",
                                pattern=PERIOD_PATTERN)],
    version: Annotated[int | None, Query(ge=1, le=1_000_000,
                                         description="Invoice version; latest if omitted.")] = None,
    redirect: Annotated[bool, Query(description="On an S3 store: redirect (default) or "
                                                "answer the link as JSON.")] = True,
):
    from storage.links import part_link
    invoices = ctx.invoices()
    v, prefix, manifest = invoices.committed(contract, period, version)
    filename = f"{contract}_{period}_v{v}_detail.parquet"
    link = part_link(invoices.store, prefix, manifest, "detail.parquet", now=ctx.clock(),
                     filename=filename, content_type=PARQUET)
    if link is None:
        data = invoices.part(contract, period, v, "detail.parquet")
        return Response(data, media_type=PARQUET, headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store"})
    if not redirect:
        return JSONResponse({"url": link.url, "version": v,
                             "expires_at": link.expires_at.isoformat().replace("+00:00", "Z"),
                             "sha256": link.sha256, "size": link.size},
                            headers={"Cache-Control": "no-store"})
    return RedirectResponse(link.url, status_code=307, headers={"Cache-Control": "no-store"})
