"""``/v1/invoices``: list invoice versions, approve one, explain a line (the HTTP twins of
``m2c invoices list | approve | explain``; reading one invoice is ``api.routes.invoices``).

* ``GET /v1/invoices`` lists versions by (contract, period, version), cursor-paginated,
  filtered by contract, period and list status (``api.views.invoice_page``).
* ``POST /v1/invoices/{contract}/{period}/approve`` approves the latest version (or
  ``version``, which must be the latest). The approval record names the key id and role
  of the caller and where the request came from (``source``: ``cli`` for ``m2c --api``,
  ``api`` for a direct call, ``console``). Idempotent: approving an approved version
  answers **200** with its original approval; a new approval is **201**.
* ``GET /v1/invoices/{contract}/{period}/lines/{line_id}`` returns the interval rows
  behind one line as CSV (default), JSON or Parquet; their amounts sum exactly to the
  line's unrounded amount.

Routes are plain ``def``: store reads block and run in the server's thread pool.
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import views
from ..auth import Principal, require_approve, require_interval_detail, require_invoices
from ..deps import Ctx
from ..models import API_PREFIX, invoice_href
from ..problems import problem_responses
from .invoices import CONTRACT_PATTERN, PERIOD_PATTERN

router = APIRouter(prefix=f"{API_PREFIX}/invoices", tags=["invoices"])

LINE_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"

Contract = Annotated[str, Path(description="Contract id.", pattern=CONTRACT_PATTERN)]
Period = Annotated[str, Path(description="Billing period YYYY-MM (contract-local month).",
                             pattern=PERIOD_PATTERN)]


class InvoiceListQuery(BaseModel):
    """Query of ``GET /v1/invoices``; unknown parameters are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    contract: str | None = Field(None, pattern=CONTRACT_PATTERN, description="Only this contract.")
    period: str | None = Field(None, pattern=PERIOD_PATTERN, description="Only this period.")
    status: Literal[views.INVOICE_STATUSES] | None = Field(  # type: ignore[valid-type]
        None, description="Only versions in this list status: draft, estimated, approved or "
                          "superseded (a later version exists and this one was never approved).")
    limit: int = Field(100, ge=1, le=views.MAX_PAGE, description="Page size.")
    cursor: str | None = Field(None, max_length=512,
                               description="`next_cursor` of the previous page.")


class InvoiceSummary(BaseModel):
    contract_id: str = Field(description="Contract the invoice settles.")
    period: str = Field(description="Billing period, YYYY-MM in the contract's local time.")
    version: int = Field(description="Invoice version.")
    status: str = Field(description="draft, estimated, approved or superseded.")
    total_usd: str = Field(description="Invoice total, a decimal string with two places.")
    adjusts: int | None = Field(description="The version a rebill adjusts; null otherwise.")
    approval: dict | None = Field(description="The approval record (who, when, from where) "
                                              "when approved.")
    href: str = Field(description="API URL of this invoice version.")


class InvoicePage(BaseModel):
    data: list[InvoiceSummary] = Field(description="Invoice versions, by contract, period, version.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on "
                                                "the last page.")


@router.get("", response_model=InvoicePage, summary="List invoice versions",
            responses=problem_responses(400, 401, 403, 422, 500, 503))
def list_invoices(ctx: Ctx, _: Annotated[Principal, Depends(require_invoices)],
                  query: Annotated[InvoiceListQuery, Query()]) -> InvoicePage:
    page = views.invoice_page(ctx.store(), contract=query.contract, period=query.period,
                              status=query.status, limit=query.limit, cursor=query.cursor)
    return InvoicePage(
        data=[InvoiceSummary(**i, href=invoice_href(i["contract_id"], i["period"], i["version"]))
              for i in page["data"]],
        next_cursor=page["next_cursor"])


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, le=1_000_000,
                                description="The version to approve; it must be the latest. "
                                            "Default: the latest.")
    source: Literal[views.APPROVAL_SOURCES] = Field(  # type: ignore[valid-type]
        "api", description="Where the approval comes from: `cli` (`m2c --api`), `api` (a direct "
                           "call) or `console`; recorded with the approver's key.")
    accept_estimated: bool = Field(
        False, description="Approve an invoice published as `estimated` (beyond its data "
                           "completeness limits); refused without it.")


@router.post(
    "/{contract}/{period}/approve", status_code=201, summary="Approve an invoice version",
    description="Approve the latest version (approved invoices are immutable). **201** with the "
                "approved invoice; **200** if that version was already approved (nothing "
                "changes; the original approval is returned). **409** for a superseded version.",
    responses={200: {"description": "Already approved: the invoice with its approval."},
               201: {"description": "Approved now: the invoice with its approval.",
                     "headers": {"Location": {"description": "URL of the invoice version.",
                                              "schema": {"type": "string"}}}},
               **problem_responses(400, 401, 403, 404, 409, 422, 500, 503)},
)
def approve_invoice(ctx: Ctx, principal: Annotated[Principal, Depends(require_approve)],
                    response: Response, contract: Contract, period: Period,
                    body: Annotated[ApproveRequest | None, Body()] = None) -> dict:
    body = body or ApproveRequest()
    approved_by = {"key_id": principal.key_id, "role": principal.role.value, "source": body.source}
    doc, created = views.approve_invoice(ctx.store(), contract, period, version=body.version,
                                         approved_by=approved_by, now_utc=ctx.clock(),
                                         accept_estimated=body.accept_estimated)
    response.status_code = 201 if created else 200
    response.headers["Location"] = invoice_href(contract, period, doc["version"])
    return doc


@router.get(
    "/{contract}/{period}/lines/{line_id}", summary="Interval rows behind an invoice line",
    description="Every interval's quantity, rate, exact amount in pico-dollars, TOU bucket, VEE "
                "quality and contract version behind one line (`<line>` or `<line>@v<N>` for "
                "a line split by an amendment). Analyst and admin keys only.",
    response_class=Response,
    responses={200: {"description": "The rows, as asked by `format`.",
                     "content": {media: {"schema": {"type": "string"}}
                                 for media in views.EXPLAIN_FORMATS.values()}},
               **problem_responses(400, 401, 403, 404, 422, 500, 503)},
)
def explain_line(ctx: Ctx, _: Annotated[Principal, Depends(require_interval_detail)],
                 contract: Contract, period: Period,
                 line_id: Annotated[str, Path(description="Invoice line id, e.g. energy:on_peak.",
                                              pattern=LINE_PATTERN)],
                 version: Annotated[int | None, Query(ge=1, le=1_000_000,
                                                      description="Invoice version; latest if "
                                                                  "omitted.")] = None,
                 format: Annotated[Literal["csv", "json", "parquet"], Query(
                     description="csv (default), json or parquet.")] = "csv") -> Response:
    data, rows = views.explain_line(ctx.store(), contract, period, version, line_id, format)
    return Response(data, media_type=views.EXPLAIN_FORMATS[format],
                    headers={"X-Row-Count": str(rows)})
