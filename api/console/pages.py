"""The console's pages and forms (``/console/...``), server-rendered, htmx for live parts.

Every page resolves the session (:mod:`api.console.sessions`) into the key's
:class:`api.roles.Principal` and applies the API's own checks: ``api.auth.authorize``
for a policy column, ``Principal.can_read`` / ``can_submit`` for job kinds, and the
actions call the very functions the routes call (``api.routes.jobs.submit`` /
``cancel``, ``api.views.approve_invoice`` with source ``console``). So a page shows an
action only to a role that may do it, and a forged request of a role that may not is
refused the same way (403), whatever the page showed.

Every ``POST`` checks the session's CSRF token first. Lists are keyset-paginated
(jobs by the catalog, invoices by the invoice index), so pages cost the same with
10,000 jobs and 100,000 invoices. Routes are plain ``def`` (catalog and store reads
block; they run in the server's thread pool).
"""
from __future__ import annotations

import difflib
import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from engine.errors import InputError, NotFoundError
from engine.timebase import to_us
from jobs.states import JobState

from .. import views
from ..auth import authorize, forbidden
from ..routes.invoice_actions import LINE_PATTERN, approver
from ..routes.invoices import CONTRACT_PATTERN, PERIOD_PATTERN
from ..routes.jobs import JOB_ID_PATTERN, cancel, submit
from .render import ConsoleRoute, CsrfRefused, SignInRequired, page
from .sessions import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SIGNIN_COOKIE, Session, tokens_match

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Contract = Annotated[str, Path(pattern=CONTRACT_PATTERN)]
Period = Annotated[str, Path(pattern=PERIOD_PATTERN)]
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN)]
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD)]
KIND_PATTERN = r"^[a-z][a-z_]{0,31}$"
PAGE_SIZE = 50
LIVE_POLL = "every 2s"

#: a failed job's error type, in plain words (the message follows)
PLAIN_ERRORS = {
    "DataMissingError": "Input data the job needs is missing or incomplete (meter data, prices or "
                        "an index for the period); load it and run the job again.",
    "ValidationError": "An input file or document is invalid; the message names the file, line "
                       "and field.",
    "ContractError": "A contract document is invalid or not in force for the period.",
    "UnknownReferenceError": "Something the job refers to does not exist (a contract, a site, a "
                             "channel).",
    "ConflictError": "The job conflicts with what happened meanwhile (for example an invoice was "
                     "approved while it ran); run it again.",
    "JobCancelledError": "The job was cancelled.",
    "StorageError": "The object store did not answer; the job can be run again once it is back.",
    "IntegrityError": "A stored object failed its integrity check; an operator must look at it.",
}


# -- sessions, CSRF -------------------------------------------------------------------------
def _now_us(request: Request) -> int:
    return to_us(request.app.state.ctx.clock())


def session_of(request: Request) -> Session:
    """The request's live session (else :class:`SignInRequired`), on ``request.state``."""
    session = request.app.state.console.sessions.get(request.cookies.get(SESSION_COOKIE),
                                                      now_us=_now_us(request))
    if session is None:
        raise SignInRequired()
    request.state.session = session
    return session


def checked(request: Request, csrf: str | None) -> Session:
    """The session of a state-changing request whose CSRF token (form field or
    ``X-CSRF-Token``) is the session's; else :class:`CsrfRefused` (nothing done)."""
    session = session_of(request)
    if not tokens_match(session.csrf_token, csrf or request.headers.get(CSRF_HEADER)):
        raise CsrfRefused()
    return session


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/")
def root(request: Request) -> Response:
    has_session = request.app.state.console.sessions.get(request.cookies.get(SESSION_COOKIE),
                                                          now_us=_now_us(request))
    return RedirectResponse("/console/jobs" if has_session else "/console/sign-in", status_code=303)


@router.get("/console")
def console_home() -> Response:
    return RedirectResponse("/console/jobs", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path of this console (no scheme, no host, no ``//``)."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/jobs"


@router.get("/console/sign-in")
def sign_in_form(request: Request, next: str | None = None, error: str | None = None) -> Response:
    import secrets
    token = secrets.token_urlsafe(24)
    response = page(request, "sign_in.html", signin_token=token, next=_safe_next(next), error=error,
                    status_code=401 if error else 200)
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        path="/console/sign-in", max_age=3600)
    return response


@router.post("/console/sign-in")
def sign_in(request: Request, api_key: Annotated[str, Form(max_length=200)],
            signin_token: Annotated[str | None, Form()] = None,
            next: Annotated[str | None, Form()] = None) -> Response:
    if not tokens_match(request.cookies.get(SIGNIN_COOKIE), signin_token):
        raise CsrfRefused()
    started = request.app.state.console.sessions.start(api_key.strip(), now_us=_now_us(request))
    if started is None:
        return sign_in_form(request, next=next, error="This API key is unknown or revoked.")
    token, _ = started
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        path="/")
    response.delete_cookie(SIGNIN_COOKIE, path="/console/sign-in")
    return response


@router.post("/console/sign-out")
def sign_out(request: Request, csrf: Csrf = None) -> Response:
    checked(request, csrf)
    request.app.state.console.sessions.end(request.cookies.get(SESSION_COOKIE), now_us=_now_us(request))
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- jobs -----------------------------------------------------------------------------------
def _job_view(request: Request, rec) -> dict[str, Any]:
    from ..routes.jobs import public_job
    pub = public_job(request.app.state.ctx, rec).model_dump(mode="json")
    pub["live"] = not JobState(rec.state).is_terminal
    pub["percent"] = round(pub["progress"]["fraction"] * 100)
    if pub.get("error"):
        pub["error"]["plain"] = PLAIN_ERRORS.get(pub["error"].get("type") or "",
                                                 "The job failed; the message says where.")
    return pub


def _jobs_page(request: Request, session: Session, kind: str | None, state: str | None,
               cursor: str | None) -> dict[str, Any]:
    principal = session.principal
    readable = principal.policy.read_kinds
    if readable is not None and not readable:
        raise forbidden(f"role {principal.role.value!r} may not use jobs")
    if kind is not None and not principal.can_read(kind):
        raise forbidden(f"role {principal.role.value!r} may not list {kind} jobs")
    if state is not None and state not in {str(s) for s in JobState}:
        raise InputError(f"unknown state {state!r}")
    if kind is None and readable is not None and len(readable) == 1:
        (kind,) = readable
    records, next_cursor = request.app.state.ctx.catalog.list(kind=kind, state=state,
                                                              limit=PAGE_SIZE, cursor=cursor)
    jobs = [_job_view(request, r) for r in records if principal.can_read(r.kind)]
    query = {k: v for k, v in (("kind", kind), ("state", state)) if v}
    return {"jobs": jobs, "next_cursor": next_cursor, "any_live": any(j["live"] for j in jobs),
            "query": query, "kind": kind, "state": state, "cursor": cursor,
            "states": [str(s) for s in JobState],
            "kinds": sorted(readable) if readable is not None else _all_kinds(),
            "self_query": urlencode({**query, **({"cursor": cursor} if cursor else {})})}


def _all_kinds() -> list[str]:
    from jobs.kinds import KINDS
    return sorted(KINDS)


@router.get("/console/jobs")
def jobs_list(request: Request, kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
              state: Annotated[str | None, Query(max_length=20)] = None,
              cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    session = session_of(request)
    return page(request, "jobs.html", **_jobs_page(request, session, kind, state, cursor))


@router.get("/console/jobs/rows")
def jobs_rows(request: Request, kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
              state: Annotated[str | None, Query(max_length=20)] = None,
              cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """The rows of the jobs table (htmx polls it while a job on the page is live)."""
    session = session_of(request)
    return page(request, "_job_rows.html", **_jobs_page(request, session, kind, state, cursor))


def _visible(request: Request, session: Session, job_id: str):
    rec = request.app.state.ctx.catalog.get(job_id)
    if not session.principal.can_read(rec.kind):
        raise NotFoundError(f"no job {job_id!r}")
    return rec


def _committed_partitions(request: Request, job_id: str, limit: int = 500) -> list[str]:
    from urllib.parse import unquote
    store = request.app.state.ctx.store()
    root = f"runs/{job_id}/parts/"
    keys = [k[len(root):-len("/_COMMITTED")] for k in store.list(root) if k.endswith("/_COMMITTED")]
    return [unquote(k) for k in sorted(keys)[:limit]]


def _result_links(request: Request, rec) -> list[dict[str, str]]:
    """The ``ResultStore`` result a succeeded job published (its kind, the job's id), if
    any: scenarios, bankability runs, shadow settlements."""
    if rec.state != JobState.SUCCEEDED:
        return []
    from storage.results import ResultStore
    try:
        ResultStore(request.app.state.ctx.store(), rec.kind).manifest(rec.id)
    except (NotFoundError, InputError):
        return []
    return [{"kind": rec.kind, "id": rec.id, "href": f"/console/results/{rec.kind}/{rec.id}"}]


@router.get("/console/jobs/new")
def job_form(request: Request, kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None) -> Response:
    session = session_of(request)
    kinds = [k for k in _all_kinds() if session.principal.can_submit(k) and k != "probe"]
    if not kinds:
        raise forbidden(f"role {session.principal.role.value!r} may not submit jobs")
    return page(request, "job_new.html", kinds=kinds, kind=kind or kinds[0], document="", error=None)


@router.post("/console/jobs")
def job_submit(request: Request, document: Annotated[str, Form(max_length=200_000)],
               csrf: Csrf = None, idempotency_key: Annotated[str | None, Form(max_length=255)] = None
               ) -> Response:
    """Submit a job from a document (YAML or JSON, the body ``POST /v1/jobs`` takes)."""
    session = checked(request, csrf)
    from pydantic import TypeAdapter, ValidationError

    from jobs.specs import JobSpec
    from storage.readers.yaml_doc import load_yaml_document

    from ..routes.jobs import parse_idempotency_key
    kinds = [k for k in _all_kinds() if session.principal.can_submit(k) and k != "probe"]
    try:
        doc = load_yaml_document(document.encode("utf-8"), "the document", what="job document")
        spec = TypeAdapter(JobSpec).validate_python(json.loads(json.dumps(dict(doc), default=str)))
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        return page(request, "job_new.html", status_code=422, kinds=kinds, kind=None, document=document,
                    error=msg)
    except InputError as exc:
        return page(request, "job_new.html", status_code=400, kinds=kinds, kind=None, document=document,
                    error=str(exc))
    rec, _ = submit(request.app.state.ctx, session.principal, spec,
                    parse_idempotency_key(idempotency_key) if idempotency_key else None)
    return RedirectResponse(f"/console/jobs/{quote(rec.id, safe='')}", status_code=303)


@router.get("/console/jobs/{job_id}")
def job_page(request: Request, job_id: JobId) -> Response:
    session = session_of(request)
    rec = _visible(request, session, job_id)
    return page(request, "job.html", job=_job_view(request, rec),
                partitions=_committed_partitions(request, job_id),
                results=_result_links(request, rec), can_cancel=session.principal.can_submit(rec.kind),
                spec_json=json.dumps(rec.spec, indent=2, sort_keys=True),
                result_json=json.dumps(rec.result, indent=2, sort_keys=True) if rec.result else None)


@router.get("/console/jobs/{job_id}/live")
def job_live(request: Request, job_id: JobId) -> Response:
    """The state and progress block of one job (htmx polls it while the job is live)."""
    session = session_of(request)
    rec = _visible(request, session, job_id)
    return page(request, "_job_live.html", job=_job_view(request, rec),
                can_cancel=session.principal.can_submit(rec.kind))


@router.post("/console/jobs/{job_id}/cancel")
def job_cancel(request: Request, job_id: JobId, csrf: Csrf = None) -> Response:
    session = checked(request, csrf)
    cancel(request.app.state.ctx, session.principal, job_id)
    return RedirectResponse(f"/console/jobs/{quote(job_id, safe='')}", status_code=303)


# -- invoices -------------------------------------------------------------------------------
@router.get("/console/invoices")
def invoices_list(request: Request,
                  contract: Annotated[str | None, Query(pattern=CONTRACT_PATTERN)] = None,
                  period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
                  status: Annotated[str | None, Query(max_length=20)] = None,
                  cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    session = session_of(request)
    authorize(session.principal, "invoices")
    ctx = request.app.state.ctx
    result = views.invoice_page(ctx.store(), contract=contract or None, period=period or None,
                                status=status or None, limit=PAGE_SIZE, cursor=cursor,
                                index=ctx.invoice_index(), now_utc=ctx.clock())
    query = {k: v for k, v in (("contract", contract), ("period", period), ("status", status)) if v}
    return page(request, "invoices.html", invoices=result["data"], next_cursor=result["next_cursor"],
                query=query, contract=contract, period=period, status=status,
                statuses=views.INVOICE_STATUSES)


def _invoice(request: Request, contract: str, period: str, version: int | None):
    store = request.app.state.ctx.invoices()
    doc, _ = store.get(contract, period, version)
    return store, doc


@router.get("/console/invoices/{contract}/{period}")
def invoice_page(request: Request, contract: Contract, period: Period,
                 version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                 notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    session = session_of(request)
    authorize(session.principal, "invoices")
    store, doc = _invoice(request, contract, period, version)
    versions = []
    for v in store.versions(contract, period):
        d = doc if v == doc["version"] else store.get(contract, period, v)[0]
        versions.append({"version": v, "status": d["status"], "total_usd": d["total_usd"],
                         "invoice_number": d.get("invoice_number"), "adjusts": d.get("adjusts"),
                         "approval": d.get("approval"), "reason": (d.get("adjustment") or {}).get("reason")})
    latest = versions[-1]["version"] if versions else None
    policy = session.principal.policy
    can_approve = (policy.approve and doc["version"] == latest and doc["status"] in ("draft", "estimated"))
    return page(request, "invoice.html", doc=doc, versions=versions, can_approve=can_approve,
                can_drill=policy.interval_detail, adjustment=doc.get("adjustment"), notice=notice,
                version_q=f"?version={doc['version']}")


@router.get("/console/invoices/{contract}/{period}/document")
def invoice_document(request: Request, contract: Contract, period: Period,
                     version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Response:
    """The invoice's own page (shown in a sandboxed frame of the invoice page)."""
    session = session_of(request)
    authorize(session.principal, "invoices")
    data, media, _ = views.invoice_file(request.app.state.ctx.store(), contract, period, version, "html")
    return Response(data, media_type=media, headers={"Cache-Control": "no-store",
                                                     "Content-Security-Policy": "default-src 'none'; "
                                                     "style-src 'unsafe-inline'; img-src data:"})


@router.get("/console/invoices/{contract}/{period}/download/{fmt}")
def invoice_download(request: Request, contract: Contract, period: Period,
                     fmt: Annotated[str, Path(pattern=r"^(json|html|pdf|csv)$")],
                     version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Response:
    session = session_of(request)
    authorize(session.principal, "invoices")
    data, media, name = views.invoice_file(request.app.state.ctx.store(), contract, period, version, fmt)
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


@router.post("/console/invoices/{contract}/{period}/approve")
def invoice_approve(request: Request, contract: Contract, period: Period, csrf: Csrf = None,
                    version: Annotated[int | None, Form(ge=1, le=1_000_000)] = None,
                    accept_estimated: Annotated[bool, Form()] = False) -> Response:
    """Approve, as ``POST /v1/invoices/.../approve`` does, recorded with source ``console``.
    Approving an approved version changes nothing and says so."""
    session = checked(request, csrf)
    authorize(session.principal, "approve")
    ctx = request.app.state.ctx
    doc, created = views.approve_invoice(ctx.store(), contract, period, version=version,
                                         approved_by=approver(ctx, session.principal, "console"),
                                         now_utc=ctx.clock(), accept_estimated=accept_estimated,
                                         index=ctx.invoice_index())
    notice = "approved" if created else "already-approved"
    return RedirectResponse(f"/console/invoices/{quote(contract, safe='')}/{period}?version={doc['version']}"
                            f"&notice={notice}", status_code=303)


@router.get("/console/invoices/{contract}/{period}/lines/{line_id}")
def invoice_line(request: Request, contract: Contract, period: Period,
                 line_id: Annotated[str, Path(pattern=LINE_PATTERN)],
                 version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                 fmt: Annotated[str | None, Query(alias="format", pattern=r"^csv$")] = None) -> Response:
    """The interval drill-down of one line: the first rows as a table, all as CSV."""
    session = session_of(request)
    authorize(session.principal, "interval_detail")
    ctx = request.app.state.ctx
    if fmt == "csv":
        data, _ = views.explain_line(ctx.store(), contract, period, version, line_id, "csv")
        return Response(data, media_type=views.EXPLAIN_FORMATS["csv"],
                        headers={"Content-Disposition": f'attachment; filename="{contract}_{period}_{line_id}.csv"'})
    store, doc = _invoice(request, contract, period, version)
    rows = views.explain_rows(doc, store.detail(contract, period, doc["version"]), line_id)
    line = next(ln for ln in doc["lines"] if ln["line_id"] == line_id)
    shown = rows.slice(0, 500).to_pylist()
    exact = None
    if "amount_picousd" in rows.column_names:        # exact Python ints: no int64 overflow
        from decimal import Decimal
        total = sum(rows.column("amount_picousd").to_pylist())
        exact = f"{Decimal(total).scaleb(-12):,f}"
    return page(request, "invoice_line.html", doc=doc, line=line, rows=shown, count=rows.num_rows,
                columns=rows.schema.names, exact_usd=exact)


# -- contracts ------------------------------------------------------------------------------
@router.get("/console/contracts")
def contracts_list(request: Request) -> Response:
    session = session_of(request)
    authorize(session.principal, "data")
    return page(request, "contracts.html",
                contracts=views.contract_summaries(request.app.state.ctx.store()))


@router.get("/console/contracts/{contract}")
def contract_page(request: Request, contract: Contract,
                  version: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> Response:
    session = session_of(request)
    authorize(session.principal, "data")
    view = views.contract_view(request.app.state.ctx.store(), contract, version)
    return page(request, "contract.html", view=view,
                document_json=json.dumps(view["document"], indent=2, sort_keys=True))


def _flatten(doc: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(doc, dict):
        out: dict[str, str] = {}
        for k in sorted(doc):
            out.update(_flatten(doc[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(doc, list) and any(isinstance(x, (dict, list)) for x in doc):
        out = {}
        for i, x in enumerate(doc):
            key = f"{prefix}[{x['id']}]" if isinstance(x, dict) and "id" in x else f"{prefix}[{i}]"
            out.update(_flatten(x, key))
        return out
    return {prefix: json.dumps(doc, sort_keys=True)}


@router.get("/console/contracts/{contract}/diff")
def contract_diff(request: Request, contract: Contract,
                  a: Annotated[int, Query(ge=1, le=100_000, alias="from")],
                  b: Annotated[int, Query(ge=1, le=100_000, alias="to")]) -> Response:
    """What changed between two versions: field by field (terms matched by id) and as text."""
    session = session_of(request)
    authorize(session.principal, "data")
    store = request.app.state.ctx.store()
    va, vb = views.contract_view(store, contract, a), views.contract_view(store, contract, b)
    fa, fb = _flatten(va["document"]), _flatten(vb["document"])
    changes = [{"field": k, "before": fa.get(k), "after": fb.get(k),
                "change": "added" if k not in fa else "removed" if k not in fb else "changed"}
               for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]
    text = list(difflib.unified_diff(json.dumps(va["document"], indent=2, sort_keys=True).splitlines(),
                                     json.dumps(vb["document"], indent=2, sort_keys=True).splitlines(),
                                     f"v{a}", f"v{b}", lineterm=""))
    return page(request, "contract_diff.html", contract=contract, a=va, b=vb, changes=changes, diff=text)


# -- results of other job kinds (scenario, bankability, shadow_settlement, ...) ---------------
def _result_store(request: Request, session: Session, kind: str):
    if not session.principal.can_read(kind):
        raise forbidden(f"role {session.principal.role.value!r} may not read {kind} results")
    from storage.results import ResultStore
    return ResultStore(request.app.state.ctx.store(), kind)


@router.get("/console/results/{kind}")
def results_list(request: Request, kind: Annotated[str, Path(pattern=KIND_PATTERN)]) -> Response:
    session = session_of(request)
    rs = _result_store(request, session, kind)
    ids = rs.ids()[-200:][::-1]
    items = []
    for rid in ids:
        m = rs.manifest(rid)
        items.append({"id": rid, "parts": sorted(m.get("parts", {})),
                      "title": m.get("title") or m.get("scenario") or m.get("name")})
    template = "results.html"
    return page(request, template, kind=kind, items=items,
                can_submit=session.principal.can_submit(kind))


@router.get("/console/results/{kind}/{result_id}")
def result_page(request: Request, kind: Annotated[str, Path(pattern=KIND_PATTERN)],
                result_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]) -> Response:
    session = session_of(request)
    rs = _result_store(request, session, kind)
    manifest = rs.manifest(result_id)
    parts = sorted(manifest.get("parts", {}))
    report = next((p for p in parts if p.endswith(".html")), None)
    summary = None
    if "summary.json" in parts:
        summary = json.dumps(json.loads(rs.part(result_id, "summary.json", manifest)), indent=2,
                             sort_keys=True)[:200_000]
    lineage = {k: v for k, v in manifest.items() if k not in ("parts",)}
    return page(request, "result.html", kind=kind, result_id=result_id, parts=parts, report=report,
                summary=summary, lineage=json.dumps(lineage, indent=2, sort_keys=True, default=str))


_PART_TYPES = {".json": "application/json", ".csv": "text/csv; charset=utf-8",
               ".html": "text/html; charset=utf-8", ".parquet": "application/vnd.apache.parquet",
               ".svg": "image/svg+xml"}


@router.get("/console/results/{kind}/{result_id}/parts/{name}")
def result_part(request: Request, kind: Annotated[str, Path(pattern=KIND_PATTERN)],
                result_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")],
                name: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]) -> Response:
    session = session_of(request)
    data = _result_store(request, session, kind).part(result_id, name)
    suffix = name[name.rfind("."):] if "." in name else ""
    headers = {"Cache-Control": "no-store"}
    if suffix == ".html":        # a report: shown framed, its own styles, no script
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    else:
        headers["Content-Disposition"] = f'attachment; filename="{kind}_{result_id}_{name}"'
    return Response(data, media_type=_PART_TYPES.get(suffix, "application/octet-stream"), headers=headers)


# -- meter data quality ---------------------------------------------------------------------
@router.get("/console/vee")
def vee_page(request: Request, site: Annotated[str | None, Query(pattern=CONTRACT_PATTERN)] = None,
             period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None) -> Response:
    session = session_of(request)
    authorize(session.principal, "data")
    store = request.app.state.ctx.store()
    sites = views.sites_view(store).get("sites", [])
    report, chart = None, None
    if site and period:
        from .vee import vee_with_chart
        report, chart = vee_with_chart(store, site, period)
    return page(request, "vee.html", sites=[s["site_id"] for s in sites], site=site, period=period,
                report=report, chart=chart)


# -- webhooks (admin) -----------------------------------------------------------------------
def _outbox(request: Request):
    from jobs.outbox import Outbox
    return Outbox(request.app.state.ctx.catalog)


@router.get("/console/webhooks")
def webhooks_page(request: Request) -> Response:
    session = session_of(request)
    authorize(session.principal, "admin")
    from jobs.outbox import EVENT_TYPES
    ob = _outbox(request)
    return page(request, "webhooks.html", hooks=[h.to_dict() for h in ob.webhooks()],
                deliveries=ob.deliveries(limit=50), event_types=EVENT_TYPES, created=None)


@router.post("/console/webhooks")
def webhooks_add(request: Request, url: Annotated[str, Form(max_length=2000)], csrf: Csrf = None,
                 description: Annotated[str | None, Form(max_length=200)] = None,
                 event_types: Annotated[list[str] | None, Form()] = None) -> Response:
    session = checked(request, csrf)
    authorize(session.principal, "admin")
    from jobs.outbox import EVENT_TYPES
    ob = _outbox(request)
    hook, secret = ob.add_webhook(url, event_types=event_types, description=description or None,
                                  created_by=session.key_id, now_us=_now_us(request))
    return page(request, "webhooks.html", hooks=[h.to_dict() for h in ob.webhooks()],
                deliveries=ob.deliveries(limit=50), event_types=EVENT_TYPES,
                created={"hook": hook.to_dict(), "secret": secret})


@router.post("/console/webhooks/{hook_id}/remove")
def webhooks_remove(request: Request, hook_id: Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$")],
                    csrf: Csrf = None) -> Response:
    session = checked(request, csrf)
    authorize(session.principal, "admin")
    _outbox(request).remove_webhook(hook_id, now_us=_now_us(request))
    return RedirectResponse("/console/webhooks", status_code=303)
