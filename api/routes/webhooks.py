"""``/v1/webhooks``: subscriptions to job and invoice events (admin keys only).

``POST /v1/webhooks`` adds one (``url``, ``event_types``, ``description``) and answers
its signing ``secret``, shown this once; ``GET /v1/webhooks`` lists them (never the
secrets); ``DELETE /v1/webhooks/{id}`` removes one (its pending deliveries are
dropped; the log stays); ``GET /v1/webhook-deliveries`` is the delivery log, each
delivery with its attempts. Delivery and signing: ``api.webhooks``; the events:
``jobs.outbox``.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from engine.timebase import to_us
from jobs.outbox import EVENT_TYPES, Outbox

from ..auth import Principal, require_admin
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/webhooks", tags=["webhooks"])

HookId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$", description="Webhook id.")]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http:// or https:// URL events are POSTed to.")
    event_types: list[str] | None = Field(
        None, max_length=len(EVENT_TYPES) + 1,
        description=f"Events to send: {', '.join(EVENT_TYPES)}; omitted or [\"*\"]: all.")
    description: str | None = Field(None, max_length=200, description="Free text.")


@router.post("", status_code=201, summary="Add a webhook",
             description="Answers the subscription with its signing `secret` (shown once).",
             responses=problem_responses(400, 401, 403, 422, 500))
def add_webhook(ctx: Ctx, principal: Annotated[Principal, Depends(require_admin)],
                body: WebhookCreate) -> dict:
    hook, secret = Outbox(ctx.catalog).add_webhook(body.url, event_types=body.event_types,
                                                   description=body.description,
                                                   created_by=principal.key_id, now_us=to_us(ctx.clock()))
    return {**hook.to_dict(), "secret": secret}


@router.get("", summary="List webhooks", responses=problem_responses(401, 403, 500))
def list_webhooks(ctx: Ctx, _: Annotated[Principal, Depends(require_admin)]) -> list[dict]:
    return [h.to_dict() for h in Outbox(ctx.catalog).webhooks()]


deliveries_router = APIRouter(prefix=f"{API_PREFIX}/webhook-deliveries", tags=["webhooks"])


class DeliveriesQuery(BaseModel):
    """Query of ``GET /v1/webhook-deliveries``; unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")

    webhook: str | None = Field(None, pattern=r"^wh_[0-9a-f]{16}$", description="Only this webhook's.")
    limit: int = Field(50, ge=1, le=500, description="Most deliveries returned.")


@deliveries_router.get("", summary="The delivery log",
                       description="Newest first; each delivery with every attempt (time, HTTP status or "
                                   "error, duration).", responses=problem_responses(401, 403, 422, 500))
def deliveries(ctx: Ctx, _: Annotated[Principal, Depends(require_admin)],
               query: Annotated[DeliveriesQuery, Query()]) -> list[dict]:
    return Outbox(ctx.catalog).deliveries(webhook_id=query.webhook, limit=query.limit)


@router.delete("/{hook_id}", summary="Remove a webhook", responses=problem_responses(401, 403, 404, 422, 500))
def remove_webhook(ctx: Ctx, _: Annotated[Principal, Depends(require_admin)], hook_id: HookId) -> dict:
    return Outbox(ctx.catalog).remove_webhook(hook_id, now_us=to_us(ctx.clock())).to_dict()
