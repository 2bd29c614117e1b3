"""``/v1/market``: ISO shadow settlements and statement reconciliation.

* ``GET /v1/market/shadow/{result_id}``: a published ``shadow_settlement`` result
  (summary JSON; ``?format=csv`` every line);
* ``GET /v1/market/statements``: the stored statements;
* ``GET /v1/market/statements/{statement_id}/reconcile``: the dispute report of a
  statement version against the shadow settlement (``?version=``, ``?tolerance_usd=``,
  ``?format=json|csv|html``), computed on request from the stored data.

Analysts and admins (the roles that read interval-level data); others 403.
"""
from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from ..auth import CurrentPrincipal, Principal, forbidden
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import ProblemError, problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/market", tags=["market"])
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


async def require_market(principal: CurrentPrincipal) -> Principal:
    if not (principal.policy.interval_detail and principal.can_read("shadow_settlement")):
        raise forbidden(f"role {principal.role.value!r} may not read market settlements")
    return principal


Market = Annotated[Principal, Depends(require_market)]


def _store(ctx):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(ctx.settings.storage_config())


@router.get("/shadow/{result_id}", summary="Get a shadow settlement result",
            responses=problem_responses(401, 403, 404, 422))
def get_shadow(ctx: Ctx, _: Market,
               result_id: Annotated[str, Path(pattern=ID_PATTERN, description="the job id")],
               format: Annotated[ReportFormat, Query(description="json summary or csv lines")]
               = ReportFormat.JSON):
    import json

    import pyarrow.parquet as pq

    from engine.market.report import shadow_rows, to_csv
    from storage.results import ResultStore
    results = ResultStore(_store(ctx), "shadow_settlement")
    manifest = results.manifest(result_id)
    if format is ReportFormat.CSV:
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
            responses=problem_responses(401, 403, 404, 422))
def reconcile(ctx: Ctx, _: Market,
              statement_id: Annotated[str, Path(pattern=ID_PATTERN)],
              version: Annotated[str | None, Query(max_length=40)] = None,
              tolerance_usd: Annotated[str, Query(max_length=20)] = "0.01",
              format: ReportFormat = ReportFormat.JSON):
    from engine.market.reconcile import mismatches
    from engine.market.report import (delta_rows, html_table, page, reconcile_rows, summary_rows,
                                      to_csv, usd_micro)
    from jobs.market import reconcile_statement
    try:
        tol = Decimal(tolerance_usd)
        if not tol.is_finite() or tol < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise ProblemError(422, "validation-error", f"tolerance_usd: not an amount >= 0: "
                           f"{tolerance_usd!r}", title="Invalid request") from None
    try:
        res = reconcile_statement(_store(ctx), statement_id, version=version,
                                  tolerance_microusd=int(tol * 10**6))
    except ValueError as exc:
        raise ProblemError(422, "validation-error", str(exc), title="Invalid request") from None
    rows = reconcile_rows(mismatches(res["reconcile"]))
    summ = summary_rows(res["summary"])
    deltas = delta_rows(res["deltas"]) if res["deltas"] is not None else []
    doc = {"statement_id": statement_id, "iso": res["iso"], "version": res["version"],
           "previous_version": res["previous_version"], "versions": res["versions"],
           "tolerance_usd": usd_micro(res["tolerance_microusd"]),
           "data_versions": res["data_versions"], "totals": summ,
           "mismatches": res["summary"]["total"]["mismatches"], "lines": rows,
           "version_deltas": deltas}
    if format is ReportFormat.CSV:
        return PlainTextResponse(to_csv(rows), media_type="text/csv")
    if format is ReportFormat.HTML:
        facts = {k: v for k, v in doc.items() if isinstance(v, (str, int)) or v is None}
        return HTMLResponse(page(f"Statement {statement_id}: dispute report",
                                 [("Totals by charge type", html_table(summ)),
                                  ("Mismatches", html_table(rows, bad="status")),
                                  ("Changes against the previous version", html_table(deltas))],
                                 facts))
    return JSONResponse(doc)
