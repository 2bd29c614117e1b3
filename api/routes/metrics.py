"""``/metrics``: Prometheus text exposition of this process's registry (``api.telemetry``).

Unauthenticated, like the health probes: scrape it from inside the network; it carries
counts and latencies, no contract, site or invoice data.
"""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import Ctx

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "Prometheus text format 0.0.4.",
                             "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
