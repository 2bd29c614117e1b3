"""``/v1/settlements/{period}/readiness``: is a billing period ready to settle?

The readiness of every contract active in the period (or the ``contract`` ids
given), before any job runs: meter completeness per site and channel against the
limits the settlement's gate applies, and the price and index series the terms
read (``jobs.readiness``, the same reads and rules as the settlement job). ``200``
with ``"ready": false`` when something is short: the request itself succeeded.
Who may submit a settlement may ask (scheduler, analyst, admin).

A plain ``def`` route: it reads and validates meter data (CPU and object-store
reads), so it runs in the server's thread pool, off the event loop.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import CurrentPrincipal, Principal, forbidden
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/settlements", tags=["settlements"])

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class ReadinessQuery(BaseModel):
    """Query of ``GET /v1/settlements/{period}/readiness``; unknown parameters are an
    error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    contract: list[str] | None = Field(None, max_length=1000,
                                       description="Contract id (repeatable); omitted: every "
                                                   "contract active in the period.")


async def require_settlement(principal: CurrentPrincipal) -> Principal:
    if not principal.can_submit("settlement"):
        raise forbidden(f"role {principal.role.value!r} may not settle, nor check readiness")
    return principal


@router.get(
    "/{period}/readiness", summary="Readiness of a billing period",
    description="Meter completeness per contract, site and channel (against the contract's, "
                "site's or default limits) and price/index coverage, as a settlement of the "
                "period would read them now. Nothing is written.",
    responses={200: {"description": "The readiness document (`ready` says whether a "
                                     "settlement would publish ordinary drafts)."},
               **problem_responses(400, 401, 403, 404, 422, 500)},
)
def get_readiness(
    ctx: Ctx, principal: Annotated[Principal, Depends(require_settlement)],
    period: Annotated[str, Path(description="Billing period YYYY-MM (contract-local month).",
                                pattern=PERIOD_PATTERN)],
    query: Annotated[ReadinessQuery, Query()],
) -> JSONResponse:
    from jobs.readiness import readiness
    from jobs.specs import parse_spec
    from storage.tables import Tables

    spec = parse_spec({"kind": "settlement", "period": period,
                       **({"contracts": query.contract} if query.contract else {})},
                      source=f"GET {API_PREFIX}/settlements/{period}/readiness")
    store = ctx.invoices().store
    return JSONResponse(readiness(store, Tables(store), spec.periods, contracts=spec.contracts))
