"""``/v1/bankability``: the published results of bankability runs, and their model schema.

A run is submitted as a job (``POST /v1/jobs`` with ``kind: bankability``; roles
investor, analyst and admin); its result is read here by its id (the job id):
``GET /v1/bankability/{id}`` gives the summary document (JSON, default), the printable
report (``format=html``), the P50 cash-flow table (``format=csv``) or one row per path
(``format=csv&part=paths``). An investor reads results, never interval detail: nothing
here carries interval-level data (the summary holds yearly and per-path figures only).
Every part is verified against the committed manifest before it is served.

``GET /v1/bankability/schema`` is the model document's JSON Schema (draft 2020-12).
The path count a submission may ask for is limited by ``M2C_BANKABILITY_MAX_PATHS``
(:func:`check_limits`, called by ``POST /v1/jobs``): over it is 422 naming the field.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from engine.errors import NotFoundError

from ..auth import CurrentPrincipal, forbidden
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import ProblemError, problem_responses
from ..settings import Settings

router = APIRouter(prefix=f"{API_PREFIX}/bankability", tags=["bankability"])

KIND = "bankability"
RESULT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"     # storage.results' names (and no "..")


class ResultFormat(StrEnum):
    JSON = "json"
    HTML = "html"
    CSV = "csv"


class CsvPart(StrEnum):
    CASHFLOW = "cashflow"
    PATHS = "paths"


_CSV_PARTS = {CsvPart.CASHFLOW: "p50_cashflow.csv", CsvPart.PATHS: "paths.csv"}


def check_limits(spec: Any, settings: Settings) -> None:
    """Refuse (422, naming the field) a bankability spec asking for more paths than this
    deployment allows."""
    if getattr(spec, "kind", None) != KIND:
        return
    unc = spec.model.get("uncertainty") or {}
    paths = spec.paths if spec.paths is not None else unc.get("paths", 1000)
    if paths > settings.bankability_max_paths:
        loc = ["body", "paths"] if spec.paths is not None else ["body", "model", "uncertainty", "paths"]
        msg = f"must be <= {settings.bankability_max_paths} (M2C_BANKABILITY_MAX_PATHS); got {paths}"
        raise ProblemError(422, "invalid-request", f"{'.'.join(loc)}: {msg}", title="Invalid request",
                           errors=[{"loc": loc, "msg": msg, "type": "less_than_equal"}])


@router.get("/schema", summary="The bankability model's JSON Schema",
            description="The published JSON Schema (draft 2020-12) of a bankability model document.",
            responses=problem_responses(401, 500))
async def get_schema(principal: CurrentPrincipal) -> JSONResponse:
    from engine.finance.model import model_schema
    return JSONResponse(model_schema())


@router.get(
    "/{result_id}", summary="Get a bankability result",
    description="The summary (JSON), the printable report (`format=html`), the P50 cash-flow "
                "table or one row per path (`format=csv`, `part=cashflow|paths`) of a finished "
                "bankability run. The id is the run's job id.",
    responses={200: {"description": "The result in the asked format.",
                     "content": {"application/json": {"schema": {"type": "object"}},
                                 "text/html": {"schema": {"type": "string"}},
                                 "text/csv": {"schema": {"type": "string"}}}},
               **problem_responses(401, 403, 404, 422, 500)},
)
def get_result(
    ctx: Ctx, principal: CurrentPrincipal,
    result_id: Annotated[str, Path(description="Result id (the job id).", pattern=RESULT_ID_PATTERN)],
    format: Annotated[ResultFormat, Query(description="json (summary), html (report) or csv.")] = ResultFormat.JSON,
    part: Annotated[CsvPart, Query(description="With format=csv: the P50 cash flows or the paths.")] = CsvPart.CASHFLOW,
) -> Response:
    if not principal.can_read(KIND):
        raise forbidden(f"role {principal.role.value!r} may not read bankability results")
    if ".." in result_id:                       # never a stored result's name
        raise NotFoundError(f"no bankability result {result_id!r}")
    from storage.objectstore import ObjectStore

    from ..views import bankability_result
    got = bankability_result(ObjectStore.from_config(ctx.settings.storage_config()), result_id,
                             format.value, part.value)
    if format is ResultFormat.HTML:
        return HTMLResponse(got)
    if format is ResultFormat.CSV:
        return Response(got, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{result_id}-{_CSV_PARTS[part]}"'})
    return JSONResponse(got)
