"""``/v1/market``: ISO shadow settlement, statement reconciliation and bid to bill.

Each route returns the document ``api.views`` builds, the one ``m2c market`` prints
locally (so ``m2c --api URL market ...`` prints the same bytes); ``?format=csv|html``
renders it with ``engine.market.report``, as the CLI does.

* ``GET /v1/market/rules?iso=``: the rule modules of an ISO (any key);
* ``GET /v1/market/shadow?iso=&resource=&from=&to=[&lines=true]``: one resource shadow-
  settled within the request, up to ``api.views.MAX_SYNC_SHADOW_DAYS`` operating days.
  Synchronous because one resource-quarter is a fraction of a second of vectorised
  work (a year takes about a second: ``bench/market.py``) and the CLI then prints the
  same document either way; fan-out over many resources or long ranges is the
  ``shadow_settlement`` job (``POST /v1/jobs``), partitioned on Ray, whose result is
  ``GET /v1/market/shadow/{result_id}``;
* ``GET /v1/market/statements``: the stored statements;
* ``GET /v1/market/statements/{statement_id}/reconcile``: the dispute report of a
  statement version (``?version=``, ``?tolerance_usd=``, ``?all=true``);
* ``GET /v1/market/chain/{site_id}/{period}``: awards -> metered -> ISO settlement ->
  PPA invoice of a site-month (``?intervals=true`` adds every interval; csv is them).

Everything but the rules is for analysts and admins (the roles that read
interval-level data); others 403.
"""
from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import CurrentPrincipal, Principal, forbidden
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import ProblemError, problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/market", tags=["market"])
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
PERIOD_PATTERN = r"^[0-9]{4}-[0-9]{2}$"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


class Iso(StrEnum):
    ERCOT = "ERCOT"
    PJM = "PJM"
    CAISO = "CAISO"


class _Query(BaseModel):
    """A route's query; unknown parameters are an error, not ignored."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RulesQuery(_Query):
    iso: Iso = Field(description="ERCOT, PJM or CAISO")


class ShadowQuery(_Query):
    iso: Iso = Field(description="ERCOT, PJM or CAISO")
    resource: str = Field(pattern=ID_PATTERN, description="resource id")
    from_date: date = Field(alias="from", description="first operating day")
    to_date: date = Field(alias="to", description="last operating day")
    lines: bool = Field(False, description="every line, not only the totals")
    format: ReportFormat = ReportFormat.JSON


class ShadowResultQuery(_Query):
    format: ReportFormat = Field(ReportFormat.JSON, description="json summary or csv lines")


class ReconcileQuery(_Query):
    version: str | None = Field(None, max_length=40, description="statement version; the latest "
                                                                   "if omitted")
    tolerance_usd: str = Field("0.01", max_length=20, description="tolerance per line, USD")
    all: bool = Field(False, description="every line, not only the mismatches")
    format: ReportFormat = ReportFormat.JSON


class ChainQuery(_Query):
    intervals: bool = Field(False, description="every ISO interval's row")
    format: ReportFormat = ReportFormat.JSON


async def require_market(principal: CurrentPrincipal) -> Principal:
    if not (principal.policy.interval_detail and principal.can_read("shadow_settlement")):
        raise forbidden(f"role {principal.role.value!r} may not read market settlements")
    return principal


Market = Annotated[Principal, Depends(require_market)]


def _store(ctx):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(ctx.settings.storage_config())


@contextmanager
def _data_present():
    """Missing meter data or prices behind a report: 409 (the request is sound; the
    store cannot answer it yet), as ``m2c`` exits 1 for it locally."""
    from engine.errors import DataMissingError
    try:
        yield
    except DataMissingError as exc:
        raise ProblemError(409, "data-missing", str(exc), title="Data missing") from None


def _render(doc: dict, fmt: ReportFormat, csv, html):
    if fmt is ReportFormat.CSV:
        return PlainTextResponse(csv(doc), media_type="text/csv")
    if fmt is ReportFormat.HTML:
        return HTMLResponse(html(doc))
    return JSONResponse(doc)


@router.get("/rules", summary="The rule modules of an ISO",
            responses=problem_responses(401, 422))
def rules(_: CurrentPrincipal, q: Annotated[RulesQuery, Query()]):
    from .. import views
    return JSONResponse(views.market_rules(q.iso.value))


@router.get("/shadow", summary="Shadow-settle one resource over operating days",
            responses=problem_responses(400, 401, 403, 404, 409, 422))
def shadow(ctx: Ctx, _: Market, q: Annotated[ShadowQuery, Query()]):
    from engine.errors import InputError
    from engine.market.report import shadow_csv, shadow_html

    from .. import views
    if q.to_date < q.from_date:
        raise InputError(f"to {q.to_date} is before from {q.from_date}")
    with _data_present():
        doc = views.market_shadow(_store(ctx), q.iso.value, q.resource, q.from_date, q.to_date,
                                  lines=q.lines, max_days=views.MAX_SYNC_SHADOW_DAYS)
    return _render(doc, q.format, shadow_csv, shadow_html)


@router.get("/shadow/{result_id}", summary="Get a shadow settlement result",
            responses=problem_responses(401, 403, 404, 422))
def get_shadow(ctx: Ctx, _: Market,
               result_id: Annotated[str, Path(pattern=ID_PATTERN, description="the job id")],
               q: Annotated[ShadowResultQuery, Query()]):
    import json

    import pyarrow.parquet as pq

    from engine.market.report import shadow_rows, to_csv
    from storage.results import ResultStore
    results = ResultStore(_store(ctx), "shadow_settlement")
    manifest = results.manifest(result_id)
    if q.format is not ReportFormat.JSON:
        lines = pq.read_table(io.BytesIO(results.part(result_id, "lines.parquet", manifest)))
        return PlainTextResponse(to_csv(shadow_rows(lines)), media_type="text/csv")
    return JSONResponse(json.loads(results.part(result_id, "summary.json", manifest)))


@router.get("/statements", summary="List stored ISO statements",
            responses=problem_responses(401, 403))
def list_statements(ctx: Ctx, _: Market):
    from storage.market import list_statements as ls
    from storage.tables import Tables
    return JSONResponse(ls(Tables(_store(ctx))))


@router.get("/statements/{statement_id}/reconcile",
            summary="Reconcile a statement against the shadow settlement",
            responses=problem_responses(400, 401, 403, 404, 409, 422))
def reconcile(ctx: Ctx, _: Market,
              statement_id: Annotated[str, Path(pattern=ID_PATTERN)],
              q: Annotated[ReconcileQuery, Query()]):
    from engine.market.report import reconcile_csv, reconcile_html

    from .. import views
    with _data_present():
        doc = views.market_reconcile(_store(ctx), statement_id, version=q.version,
                                     tolerance_usd=q.tolerance_usd, all_lines=q.all)
    return _render(doc, q.format, reconcile_csv, reconcile_html)


@router.get("/chain/{site_id}/{period}", summary="Bid to bill: awards, metered, ISO, invoice",
            responses=problem_responses(400, 401, 403, 404, 409, 422))
def chain(ctx: Ctx, _: Market,
          site_id: Annotated[str, Path(pattern=ID_PATTERN)],
          period: Annotated[str, Path(pattern=PERIOD_PATTERN, description="billing month YYYY-MM")],
          q: Annotated[ChainQuery, Query()]):
    from engine.market.report import chain_csv, chain_html

    from .. import views
    with _data_present():
        doc = views.market_chain(_store(ctx), site_id, period,
                                 intervals=q.intervals or q.format is not ReportFormat.JSON)
    return _render(doc, q.format, chain_csv, chain_html)
