"""Public request/response models of the HTTP API (pydantic v2; every field described).

``JobCreate`` is the job-spec union of ``jobs.specs`` itself (discriminated on
``kind``), so the API, the CLI and the catalog validate one and the same document.
Times are ISO 8601 UTC; progress counts partitions (e.g. contract × period).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from jobs.specs import JobSpec
from jobs.states import JobState

API_PREFIX = "/v1"

JobCreate = JobSpec
"""Body of ``POST /v1/jobs``: a settlement or rebill spec (``kind`` discriminates)."""



class Progress(BaseModel):
    done: int = Field(description="Partitions finished (committed) so far.", ge=0)
    total: int = Field(description="Partitions planned; 0 until the job is planned.", ge=0)
    fraction: float = Field(description="done / total in [0, 1]; 0 while total is 0.", ge=0, le=1)


class JobErrorPublic(BaseModel):
    type: str | None = Field(description="Error class, e.g. DataMissingError or JobCancelledError.")
    message: str = Field(description="What failed, naming the contract, site, period or field.")


class InvoiceLink(BaseModel):
    contract_id: str = Field(description="Contract the invoice settles.")
    period: str = Field(description="Billing period, YYYY-MM in the contract's local time.")
    version: int | None = Field(description="Invoice version written by this job.")
    href: str = Field(description="API URL of this invoice version.")


class JobLinks(BaseModel):
    self: str = Field(description="URL of this job.")
    cancel: str | None = Field(description="URL to POST to cancel; null once the job is terminal.")
    invoices: list[InvoiceLink] = Field(
        default_factory=list, description="Invoices the job produced (settlement and rebill).")


class JobPublic(BaseModel):
    """A job as the catalog records it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "job-01hf3c2a9b7d", "kind": "settlement", "state": "running",
        "spec": {"kind": "settlement", "period": "2026-10", "contracts": None},
        "progress": {"done": 3, "total": 8, "fraction": 0.375}, "attempt": 1,
        "created_at": "2026-11-01T06:00:00Z", "started_at": "2026-11-01T06:00:01Z",
        "finished_at": None, "updated_at": "2026-11-01T06:00:04Z", "error": None,
        "result": None, "links": {"self": "/v1/jobs/job-01hf3c2a9b7d",
                                  "cancel": "/v1/jobs/job-01hf3c2a9b7d/cancel", "invoices": []}}]})

    id: str = Field(description="Job id (sortable by creation time).")
    kind: str = Field(description="Job kind: settlement, rebill (later scenario, bankability).")
    state: JobState = Field(
        description="queued → running → succeeded | failed | cancelled; running → cancelling → "
                    "cancelled; queued → cancelled. Terminal states never change.")
    spec: dict[str, Any] = Field(description="The validated job spec as submitted.")
    progress: Progress = Field(description="Partition progress reported by the executor.")
    attempt: int = Field(description="Execution attempt; > 1 after a runner was resubmitted.", ge=0)
    created_at: datetime = Field(description="When the job was accepted (UTC).")
    started_at: datetime | None = Field(description="When a runner started it (UTC).")
    finished_at: datetime | None = Field(description="When it reached a terminal state (UTC).")
    updated_at: datetime = Field(description="Last state or progress change (UTC).")
    error: JobErrorPublic | None = Field(description="Why the job failed; null otherwise.")
    result: dict[str, Any] | None = Field(
        description="Result of a succeeded job: invoices written and the run manifest key.")
    links: JobLinks = Field(description="Related URLs.")

    @classmethod
    def from_record(cls, rec: Any) -> "JobPublic":
        """Build from a ``jobs.catalog.JobRecord``."""
        done, total = int(rec.progress_done or 0), int(rec.progress_total or 0)
        fraction = min(1.0, done / total) if total else 0.0
        if rec.state == JobState.SUCCEEDED and total == 0:
            fraction = 1.0
        href = f"{API_PREFIX}/jobs/{quote(rec.id, safe='')}"
        error = (JobErrorPublic(type=rec.error_type, message=rec.error)
                 if rec.error else None)
        return cls(
            id=rec.id, kind=rec.kind, state=rec.state, spec=dict(rec.spec),
            progress=Progress(done=done, total=total, fraction=fraction),
            attempt=int(rec.attempt or 0), created_at=rec.created_at, started_at=rec.started_at,
            finished_at=rec.finished_at, updated_at=rec.updated_at, error=error,
            result=rec.result,
            links=JobLinks(self=href,
                           cancel=None if JobState(rec.state).is_terminal else f"{href}/cancel",
                           invoices=invoice_links(rec.result)))


def invoice_href(contract_id: str, period: str, version: int | None = None) -> str:
    href = f"{API_PREFIX}/invoices/{quote(contract_id, safe='')}/{quote(period, safe='')}"
    return f"{href}?version={version}" if version is not None else href


def invoice_links(result: dict[str, Any] | None) -> list[InvoiceLink]:
    links = []
    for inv in (result or {}).get("invoices") or []:
        try:
            contract_id, period = str(inv["contract_id"]), str(inv["period"])
        except (KeyError, TypeError):
            continue
        version = inv.get("version")
        version = int(version) if version is not None else None
        links.append(InvoiceLink(contract_id=contract_id, period=period, version=version,
                                 href=invoice_href(contract_id, period, version)))
    return links


class JobsPublic(BaseModel):
    data: list[JobPublic] = Field(description="Jobs, newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page.")


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always ok while the process serves requests.")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"] = Field(description="ready when every check passes.")
    checks: dict[str, bool] = Field(description="Each dependency and whether it is reachable.")
