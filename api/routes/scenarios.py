"""``/v1/scenarios``: stored scenario results (a ``scenario`` job's output).

A scenario is submitted as a job (``POST /v1/jobs`` with ``kind: scenario``); its
result id is the job id. ``GET /v1/scenarios/{id}`` answers the summary document
(JSON, with the lineage) by default, the result table as CSV (variant x contract x
period x line: amount, base amount and delta in cents) or the printable report as
HTML, chosen by ``?format=`` or the ``Accept`` header. Roles that may see scenario
jobs (analyst, admin) may read them; every part is verified against the result's
committed manifest before it is served.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..auth import CurrentPrincipal, Principal, forbidden
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses
from .invoices import _quality

router = APIRouter(prefix=f"{API_PREFIX}/scenarios", tags=["scenarios"])

RESULT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"   # storage.results names


class ScenarioFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


class ScenarioQuery(BaseModel):
    """Query of ``GET /v1/scenarios/{id}``; unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")

    format: ScenarioFormat | None = Field(None, description="json (summary), csv (result table) or html "
                                                            "(report); overrides the Accept header.")


async def require_scenarios(principal: CurrentPrincipal) -> Principal:
    if not principal.can_read("scenario"):
        raise forbidden(f"role {principal.role.value!r} may not read scenarios")
    return principal


def _format(fmt: ScenarioFormat | None, accept: str | None) -> ScenarioFormat:
    if fmt is not None:
        return fmt
    if accept:
        scores = {f: _quality(accept, m) for f, m in ((ScenarioFormat.JSON, "application/json"),
                                                     (ScenarioFormat.CSV, "text/csv"),
                                                     (ScenarioFormat.HTML, "text/html"))}
        best = max(scores.values())
        if best > 0 and scores[ScenarioFormat.JSON] < best:
            return ScenarioFormat.HTML if scores[ScenarioFormat.HTML] == best else ScenarioFormat.CSV
    return ScenarioFormat.JSON


@router.get(
    "/schema", summary="The scenario document's JSON Schema",
    description="The JSON Schema (draft 2020-12) of a scenario document (`m2c scenarios schema`).",
    responses=problem_responses(401, 403, 500),
)
def get_schema(principal: Annotated[Principal, Depends(require_scenarios)]) -> JSONResponse:
    from engine.scenario import scenario_schema
    return JSONResponse(scenario_schema())


@router.get(
    "", summary="List scenario results",
    description="Every stored scenario result: id (the job id), name, variants, failures, base total.",
    responses=problem_responses(401, 403, 500, 503),
)
def list_scenarios(ctx: Ctx, principal: Annotated[Principal, Depends(require_scenarios)]) -> JSONResponse:
    from .. import views
    return JSONResponse({"data": views.scenario_results(ctx.object_store())})


@router.get(
    "/{result_id}", summary="Get a scenario result", response_class=JSONResponse,
    description="The summary (JSON), the result table (CSV) or the report (HTML) of one scenario.",
    responses={200: {"description": "The summary, the table or the report.",
                     "content": {"application/json": {"schema": {"type": "object"}},
                                 "text/csv": {"schema": {"type": "string"}},
                                 "text/html": {"schema": {"type": "string"}}}},
               **problem_responses(401, 403, 404, 422, 500, 503)},
)
def get_scenario(
    ctx: Ctx, principal: Annotated[Principal, Depends(require_scenarios)],
    result_id: Annotated[str, Path(description="Result id: the scenario job's id.", pattern=RESULT_ID_PATTERN)],
    query: Annotated[ScenarioQuery, Query()],
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
):
    from .. import views
    fmt = _format(query.format, accept)
    body = views.scenario_result(ctx.object_store(), result_id, fmt.value)
    if fmt is ScenarioFormat.HTML:
        return HTMLResponse(body)
    if fmt is ScenarioFormat.CSV:
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="scenario-{result_id}.csv"'})
    return JSONResponse(body)
