"""``/v1/invoices/{contract}/{period}``: an invoice version as JSON or HTML.

JSON (the invoice document of ``spec/interfaces.md``) by default; HTML when asked with
``?format=html`` or an ``Accept`` header preferring ``text/html``; ``?format=pdf`` the
PDF (``api.console.pdf``), ``?format=csv`` the journal entry of its lines
(``engine.invoice.journal_csv``). ``?version=N`` reads
a given version, else the latest. ``?detail=intervals`` adds the interval-level rows
behind every line (the drill-down): analysts and admins only; investors see lines and
totals and get 403 for it.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import views

from ..auth import Principal, forbidden, require_invoices
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/invoices", tags=["invoices"])

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
CONTRACT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class InvoiceFormat(StrEnum):
    JSON = "json"
    HTML = "html"
    PDF = "pdf"
    CSV = "csv"


class InvoiceDetail(StrEnum):
    SUMMARY = "summary"
    INTERVALS = "intervals"


class InvoiceQuery(BaseModel):
    """Query of ``GET /v1/invoices/...``; unknown parameters are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, le=1_000_000,
                                description="Invoice version; latest if omitted.")
    format: InvoiceFormat | None = Field(None, description="Response format; overrides the "
                                                           "Accept header.")
    detail: InvoiceDetail = Field(InvoiceDetail.SUMMARY,
                                  description="`intervals` adds the interval-level rows behind "
                                              "each line (analyst and admin only).")


def _quality(accept: str, media: str) -> float:
    """q of ``media`` in an Accept header (exact, type/* or */* match; most specific wins)."""
    best, best_specificity = 0.0, -1
    kind = media.split("/")[0]
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        rng = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        specificity = 2 if rng == media else 1 if rng == f"{kind}/*" else 0 if rng == "*/*" else -1
        if specificity > best_specificity:
            best, best_specificity = q, specificity
    return best if best_specificity >= 0 else 0.0


def wants_html(fmt: InvoiceFormat | None, accept: str | None) -> bool:
    if fmt is not None:
        return fmt is InvoiceFormat.HTML
    if not accept:
        return False
    return _quality(accept, "text/html") > _quality(accept, "application/json")


def _jsonable_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for k, v in row.items():
            if isinstance(v, datetime):
                row[k] = v.isoformat().replace("+00:00", "Z")
    return rows


@router.get(
    "/{contract}/{period}", summary="Get an invoice",
    response_class=JSONResponse,
    description="The latest (or `version`) invoice of a contract and billing period.",
    responses={200: {"description": "The invoice document (JSON) or its HTML rendering.",
                     "content": {"application/json": {"schema": {"type": "object"}},
                                 "text/html": {"schema": {"type": "string"}},
                                 "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                 "text/csv": {"schema": {"type": "string"}}}},
               **problem_responses(401, 403, 404, 422, 500, 503)},
)
def get_invoice(
    ctx: Ctx, principal: Annotated[Principal, Depends(require_invoices)],
    contract: Annotated[str, Path(description="Contract id.", pattern=CONTRACT_PATTERN)],
    period: Annotated[str, Path(description="Billing period YYYY-MM (contract-local month).",
                                pattern=PERIOD_PATTERN)],
    query: Annotated[InvoiceQuery, Query()],
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
):
    version, format, detail = query.version, query.format, query.detail
    if detail is InvoiceDetail.INTERVALS and not principal.policy.interval_detail:
        raise forbidden(f"role {principal.role.value!r} may not read interval-level data")
    if format in (InvoiceFormat.PDF, InvoiceFormat.CSV):     # the PDF; the journal-entry CSV
        data, media, name = views.invoice_file(ctx.store(), contract, period, version, format.value)
        return Response(data, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    store = ctx.invoices()
    doc, html = store.get(contract, period, version)
    if wants_html(format, accept):
        return HTMLResponse(html)
    if detail is InvoiceDetail.INTERVALS:
        table = store.detail(contract, period, doc.get("version", version))
        doc = jsonable_encoder({**doc, "detail": {"columns": table.schema.names,
                                                  "rows": _jsonable_rows(table.to_pylist())}})
    return JSONResponse(doc)
