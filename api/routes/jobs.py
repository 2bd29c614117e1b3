"""``/v1/jobs``: submit, track, list and cancel jobs.

The catalog owns jobs; this router only records intent and hands off. ``POST`` commits
the row (atomically, honouring ``Idempotency-Key`` and the spec's natural key) and
*then* asks the dispatcher to start a runner; a failed hand-off leaves the job queued
for the reconciler, so an accepted job is never lost.

Routes are plain ``def``: catalog calls are short blocking SQLite transactions and run
in the server's thread pool, off the event loop.

What a job view shows is bounded: the error message passes through
``api.problems.public_text`` (no absolute server path, at most 2,000 characters), and
``GET /v1/jobs`` summarises a spec or result whose JSON is over
:data:`LIST_DOC_MAX_BYTES` (``{"kind", "summarised": true, "size_bytes"}``; the full
document is at the job's own URL), so a page of 100 jobs stays small whatever they hold.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import DataMissingError, InputError, NotFoundError
from jobs.kinds import get_kind

from ..auth import CurrentPrincipal, Principal, forbidden, require_any_job_access
from .bankability import check_limits
from ..deps import Ctx
from ..dispatch import ExecutorUnavailable
from jobs.states import JobState

from ..models import API_PREFIX, JobCreate, JobPublic, JobsPublic
from ..problems import ProblemError, problem_responses, public_text

logger = logging.getLogger(__name__)

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])

IDEMPOTENCY_HEADER = "Idempotency-Key"
# draft-ietf-httpapi-idempotency-key-header: an sf-string; bare tokens are accepted too.
_KEY_RE = re.compile(r'^[\x21\x23-\x5b\x5d-\x7e]{1,255}$')
JOB_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

_LOCATION = {"Location": {"description": "URL of the job.", "schema": {"type": "string"}}}

JobId = Annotated[str, Path(description="Job id as returned by POST /v1/jobs.",
                            pattern=JOB_ID_PATTERN)]

#: a spec or result whose compact JSON is larger is summarised in ``GET /v1/jobs``
LIST_DOC_MAX_BYTES = 16 * 1024


def _summary(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """``doc``, or a small stand-in if its JSON is over :data:`LIST_DOC_MAX_BYTES`."""
    if doc is None:
        return None
    size = len(json.dumps(doc, separators=(",", ":"), default=str))
    if size <= LIST_DOC_MAX_BYTES:
        return doc
    out: dict[str, Any] = {"summarised": True, "size_bytes": size}
    if isinstance(doc.get("kind"), str):
        out["kind"] = doc["kind"]
    return out


def public_job(ctx: Ctx, rec, *, summarise: bool = False) -> JobPublic:
    """The view of a job the API returns: its error without server paths and bounded;
    with ``summarise``, a large spec or result replaced by :func:`_summary`."""
    changes: dict[str, Any] = {}
    if rec.error:
        changes["error"] = public_text(rec.error, ctx.settings.server_paths())
    if summarise:
        changes["spec"], changes["result"] = _summary(rec.spec), _summary(rec.result)
    return JobPublic.from_record(dataclasses.replace(rec, **changes) if changes else rec)


def parse_idempotency_key(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header (``"abc"`` or ``abc``); 400 if malformed."""
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY_RE.match(value):
        raise ProblemError(400, "invalid-idempotency-key",
                           "Idempotency-Key must be 1-255 visible ASCII characters other "
                           "than quote and backslash "
                           "(a structured-field string, e.g. \"settlement:2026-10\")",
                           title="Invalid Idempotency-Key")
    return value


class JobsQuery(BaseModel):
    """Query of ``GET /v1/jobs``; unknown parameters are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = Field(None, description="Only jobs of this kind.", pattern=r"^[a-z_]{1,32}$")
    state: JobState | None = Field(None, description="Only jobs in this state.")
    limit: int = Field(50, ge=1, le=100, description="Page size (1-100).")
    cursor: str | None = Field(None, max_length=512,
                               description="`next_cursor` of the previous page.")


def _visible_job(ctx: Ctx, principal: Principal, job_id: str):
    """The job, or 404 if it does not exist or the caller's role may not see its kind."""
    rec = ctx.catalog.get(job_id)
    if not principal.can_read(rec.kind):
        raise NotFoundError(f"no job {job_id!r}")
    return rec


def _check_against_store(ctx: Ctx, spec) -> None:
    """The kind's check against what is stored (``JobKind.check``): an unknown name, or
    no data to work on, is a 422 naming the field, before the job is recorded."""
    kind = get_kind(spec.kind)
    if kind.check is None:
        return
    try:
        kind.check(spec, ctx.object_store())
    except (InputError, DataMissingError) as exc:
        raise ProblemError(422, "invalid-request", str(exc), title="Invalid request",
                           field=getattr(exc, "field", None),
                           problems=getattr(exc, "problems", None) or None) from None


def _job_response(ctx: Ctx, response: Response, rec) -> JobPublic:
    body = public_job(ctx, rec)
    response.headers["Location"] = body.links.self
    return body


@router.post(
    "", status_code=202, response_model=JobPublic,
    summary="Submit a job",
    description=(
        "Validates the spec, records the job and hands it to the cluster. **202** with "
        "`Location` for a new job. **200** with the existing job when the request repeats "
        "an earlier one: the same `Idempotency-Key` and body from the same API key, or a "
        "month-end settlement of a period (and contract set) that already has a live or "
        "successful job — settlement runs once per natural key. Reusing an "
        "`Idempotency-Key` with a different body is **422** "
        "(`https://meter2cash.dev/problems/idempotency-key-reuse`). Keys do not expire."),
    responses={202: {"description": "Accepted: a new job.", "headers": _LOCATION},
               200: {"model": JobPublic, "description": "The job this request repeats.",
                     "headers": _LOCATION},
               **problem_responses(400, 401, 403, 413, 422, 500)},
)
def submit_job(
    ctx: Ctx, principal: CurrentPrincipal, response: Response,
    spec: Annotated[JobCreate, Body(description="Job spec; `kind` selects the schema.")],
    idempotency_key: Annotated[str | None, Header(
        alias=IDEMPOTENCY_HEADER,
        description="Makes retries safe: a repeat with the same key and body returns the "
                    "original job. Structured-field string, e.g. `\"settle-2026-10\"`.")] = None,
) -> JobPublic:
    if not principal.can_submit(spec.kind):
        raise forbidden(f"role {principal.role.value!r} may not submit {spec.kind} jobs")
    check_limits(spec, ctx.settings)
    key = parse_idempotency_key(idempotency_key)
    _check_against_store(ctx, spec)
    rec, created = ctx.catalog.submit(spec, principal=principal.key_id, idempotency_key=key,
                                      now_utc=ctx.clock())
    if created:
        try:
            ctx.dispatcher.submit(rec.id)
        except ExecutorUnavailable as exc:
            logger.info("job %s left queued for the reconciler: %s", rec.id, exc)
        except Exception:
            # The row is committed: the reconciler will start it. Accepting is correct.
            logger.warning("hand-off of job %s failed; left queued for the reconciler",
                           rec.id, exc_info=True)
    else:
        response.status_code = 200
        logger.info("job request by %s matched existing job %s (%s)", principal.key_id, rec.id,
                    "idempotency key" if key else "natural key")
    return _job_response(ctx, response, rec)


@router.get(
    "/{job_id}", response_model=JobPublic, summary="Get a job",
    description="State, partition progress, timestamps, error and result links of one job.",
    responses=problem_responses(401, 403, 404, 422, 500),
)
async def get_job(ctx: Ctx, principal: CurrentPrincipal, job_id: JobId) -> JobPublic:
    # on the event loop: one primary-key read of the catalog (~0.2 ms) is cheaper than the
    # thread-pool hop a sync handler costs; this is the route every waiting client polls
    rec = _visible_job(ctx, principal, job_id)
    return public_job(ctx, rec)


@router.get(
    "", response_model=JobsPublic, summary="List jobs",
    description="Newest first, cursor-paginated on (created_at, id): pass `next_cursor` back "
                "as `cursor` (anything else is 400). Roles that see only some kinds get only "
                "those. Unknown query parameters are rejected (422) rather than silently "
                "ignored. A spec or result over 16 KiB of JSON is summarised "
                "(`{\"summarised\": true, \"size_bytes\": N}`): get the job for all of it.",
    responses=problem_responses(400, 401, 403, 422, 500),
)
def list_jobs(
    ctx: Ctx, principal: Annotated[Principal, Depends(require_any_job_access)],
    query: Annotated[JobsQuery, Query()],
) -> JobsPublic:
    kind, state, limit, cursor = query.kind, query.state, query.limit, query.cursor
    readable = principal.policy.read_kinds
    if kind is not None and not principal.can_read(kind):
        raise forbidden(f"role {principal.role.value!r} may not list {kind} jobs")
    if kind is None and readable is not None and len(readable) == 1:
        (kind,) = readable
    records, next_cursor = ctx.catalog.list(kind=kind, state=state, limit=limit, cursor=cursor)
    data = [public_job(ctx, r, summarise=True) for r in records if principal.can_read(r.kind)]
    return JobsPublic(data=data, next_cursor=next_cursor)


@router.post(
    "/{job_id}/cancel", status_code=202, response_model=JobPublic, summary="Cancel a job",
    description="A queued job is cancelled at once; a running one moves to `cancelling` and "
                "its runner stops at the next partition boundary, publishing nothing. **409** "
                "if the job already finished.",
    responses={202: {"description": "Cancellation recorded.", "headers": _LOCATION},
               **problem_responses(401, 403, 404, 409, 422, 500)},
)
def cancel_job(ctx: Ctx, principal: CurrentPrincipal, response: Response,
               job_id: JobId) -> JobPublic:
    rec = _visible_job(ctx, principal, job_id)
    if not principal.can_submit(rec.kind):
        raise forbidden(f"role {principal.role.value!r} may not cancel {rec.kind} jobs")
    rec = ctx.catalog.request_cancel(job_id, now_utc=ctx.clock())
    if rec.state == JobState.CANCELLING:
        try:
            ctx.dispatcher.cancel(job_id)
        except ExecutorUnavailable as exc:
            logger.info("cancel of %s not forwarded: %s", job_id, exc)
        except Exception:
            # The runner also polls the catalog's cancel flag; forwarding only makes it faster.
            logger.warning("could not forward cancel of %s to its runner", job_id, exc_info=True)
    return _job_response(ctx, response, rec)
