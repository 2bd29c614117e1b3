"""``/healthz`` (liveness) and ``/readyz`` (the catalog and the executor are reachable).

Both are unauthenticated and cheap: load balancers and orchestrators poll them.
"""
from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import Ctx
from ..models import Health, Readiness

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness",
            description="200 while the process serves requests; checks nothing else.")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="Readiness",
            description="200 when the job catalog and the Ray cluster answer, else 503.",
            responses={503: {"model": Readiness, "description": "A dependency is unreachable."}})
def readyz(ctx: Ctx):
    checks = {"catalog": _catalog_ok(ctx), "executor": _executor_ok(ctx)}
    ready = all(checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _catalog_ok(ctx: Ctx) -> bool:
    try:
        ctx.catalog.counts_by_state()
        return True
    except Exception:
        logger.warning("readiness: job catalog unreachable", exc_info=True)
        return False


def _executor_ok(ctx: Ctx) -> bool:
    return ctx.executor_connected and ctx.dispatcher.ping()
