"""The FastAPI application: ``create_app(settings) -> FastAPI``.

Jobs belong to the catalog, not to this process. Start-up (the lifespan):

1. open the catalog and the key store (tables created if missing);
2. start the reconciler task (and the webhook sender, ``api.webhooks``: events of the
   catalog's outbox posted to their subscribers). Its first pass, at once, connects to Ray through
   ``cluster.runtime.ensure_ray`` (embedded when ``RAY_ADDRESS`` is unset) and
   reconciles: queued jobs without a runner are started, running jobs whose runner
   died are resumed (committed partitions are not recomputed); runners that are alive
   are left alone, so jobs keep running across API restarts. The API serves meanwhile;
   ``/readyz`` answers 503 until Ray is reachable, and an unreachable Ray is retried;
3. then, every ``reconcile_interval_s``, it re-submits queued jobs older than
   ``stale_after_s`` (a crash between commit and hand-off), resumes running jobs whose
   runner is gone, and feeds the job metrics.

Shutdown stops the reconciler and disconnects from Ray (``JobDispatcher.stop``, when the
dispatcher has one). Runners on a cluster are detached and outlive us; an embedded Ray
ends with the process, its runners with it, and the next start's reconcile resumes
their jobs.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone

from fastapi import FastAPI

from engine.errors import NotFoundError
from jobs.states import JobState

from .deps import AppContext
from .dispatch import JobDispatcher, RayDispatcher
from .keystore import KeyStore
from .problems import BodySizeLimit, install_problem_handlers
from .routes import (bankability, contracts, downloads, esg, health, ingest, invoice_actions,
                     invoices, jobs, keys, market, metrics, readiness, scenarios, sites, webhooks)
from .settings import Settings
from .telemetry import ApiMetrics, HttpMetricsMiddleware

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def default_dispatcher(settings: Settings) -> RayDispatcher:
    return RayDispatcher(storage_config=settings.storage_config(), db_url=settings.db_url,
                         cluster_config=settings.cluster_config())


def create_app(settings: Settings, *, dispatcher: JobDispatcher | None = None,
               clock: Callable[[], datetime] = utc_now, reconcile_interval_s: float = 5.0,
               stale_after_s: float = 10.0, key_cache_ttl_s: float = 5.0,
               webhook_interval_s: float = 1.0, webhook_retry=None) -> FastAPI:
    """Build the API for ``settings``.

    ``dispatcher`` defaults to detached JobRunner actors on Ray; ``clock`` returns aware
    UTC and is the only clock the routes read; a queued job older than ``stale_after_s``
    is re-submitted by the reconciler, which runs every ``reconcile_interval_s``; an API
    key lookup is cached for ``key_cache_ttl_s`` (so a revocation takes that long at most).
    Webhook deliveries due are sent every ``webhook_interval_s`` (``api.webhooks``), retried
    by ``webhook_retry`` (a ``jobs.outbox.Retry``; its defaults when None).
    """
    from jobs.catalog import JobCatalog

    catalog = JobCatalog(settings.db_url)
    ctx = AppContext(settings=settings, catalog=catalog,
                     keys=KeyStore(settings.db_url, cache_ttl_s=key_cache_ttl_s),
                     dispatcher=dispatcher or default_dispatcher(settings),
                     metrics=ApiMetrics(lambda: catalog), clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_open_stores, ctx)
        # The reconciler's first pass connects to Ray and reconciles at once; serving does
        # not wait for it (an embedded Ray takes seconds to start): /readyz says when.
        task = asyncio.create_task(
            _reconcile_forever(ctx, reconcile_interval_s, timedelta(seconds=stale_after_s)),
            name="m2c-reconciler")
        from jobs.outbox import Outbox, Retry

        from .webhooks import deliver_forever
        sender = asyncio.create_task(
            deliver_forever(Outbox(ctx.catalog), ctx.clock, interval_s=webhook_interval_s,
                            retry=webhook_retry or Retry()), name="m2c-webhooks")
        try:
            yield
        finally:
            for t in (task, sender):
                t.cancel()
            for t in (task, sender):
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            stop = getattr(ctx.dispatcher, "stop", None)     # optional in the protocol
            if stop is not None:
                await asyncio.to_thread(stop)

    app = FastAPI(
        title="meter2cash", version=API_VERSION, lifespan=lifespan,
        docs_url=None, redoc_url=None,      # served offline by the console (api.console.docs)
        description="Settlement jobs on Ray and the invoices they produce. Authenticate "
                    "with an `X-API-Key` created by `m2c keys create --role ROLE`. Errors "
                    "are RFC 9457 `application/problem+json`.",
    )
    app.state.ctx = ctx
    install_problem_handlers(app)
    # uploads (POST /v1/ingest/...) stream to disk under their own limit, api_max_upload_bytes
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes,
                       exempt=("/v1/ingest/",))
    app.add_middleware(HttpMetricsMiddleware, metrics=ctx.metrics)
    app.include_router(jobs.router)        # routers carry their full /v1/... prefix, so
    app.include_router(invoices.router)    # route templates (metrics labels) are complete
    app.include_router(invoice_actions.router)
    app.include_router(downloads.router)
    app.include_router(contracts.router)
    app.include_router(sites.router)
    app.include_router(ingest.router)
    app.include_router(keys.router)
    app.include_router(webhooks.router)
    app.include_router(webhooks.deliveries_router)
    app.include_router(bankability.router)
    app.include_router(market.router)
    app.include_router(esg.router)
    app.include_router(scenarios.router)
    app.include_router(readiness.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    from .console import install as install_console
    install_console(app)                   # /, /console/..., /static/..., /docs, /redoc
    return app


def _open_stores(ctx: AppContext) -> None:
    ctx.catalog.init_schema()
    ctx.keys.init_schema()


def _start_executor(ctx: AppContext) -> bool:
    """Connect the dispatcher to the executor; False (logged) while it is unreachable."""
    try:
        ctx.dispatcher.start()
    except Exception:
        logger.warning("cannot reach the executor; serving without it and retrying",
                       exc_info=True)
        return False
    return True


def _connect_and_reconcile(ctx: AppContext) -> bool:
    """Connect to the executor if not yet connected and run the full reconcile once after
    connecting; False while the executor is unreachable."""
    if not ctx.executor_connected:
        if not _start_executor(ctx):
            return False
        ctx.executor_connected = True
        ctx.reconciled = False
    if not ctx.reconciled:
        ctx.dispatcher.reconcile(ctx.catalog, now_utc=ctx.clock())   # raises: retried next pass
        ctx.reconciled = True
        logger.info("connected to the executor and reconciled the job catalog")
    return True


def reconcile_tick(ctx: AppContext, stale_after: timedelta) -> None:
    """One pass of the periodic reconciler (blocking; run off the event loop)."""
    if not _connect_and_reconcile(ctx):
        return
    now = ctx.clock()
    live = ctx.catalog.nonterminal()
    orphaned = False
    for rec in live:
        if rec.state == JobState.QUEUED and now - rec.created_at > stale_after:
            logger.info("re-submitting job %s, queued since %s", rec.id, rec.created_at)
            try:
                ctx.dispatcher.submit(rec.id)
            except Exception:
                logger.warning("re-submitting job %s failed; next pass retries", rec.id,
                               exc_info=True)
        elif (rec.state in (JobState.RUNNING, JobState.CANCELLING) and now - rec.updated_at > stale_after
              and not ctx.dispatcher.is_running(rec.id)):
            orphaned = True
    if orphaned:
        logger.info("a running job lost its runner; reconciling")
        ctx.dispatcher.reconcile(ctx.catalog, now_utc=now)
    _observe_finished(ctx, live)


def _observe_finished(ctx: AppContext, live: list) -> None:
    """Feed the job metrics: jobs live at the last pass and not now, plus the newest
    page (jobs that started and finished between two passes)."""
    live_ids = {rec.id for rec in live}
    finished = []
    for job_id in ctx.watched_jobs - live_ids:
        try:
            finished.append(ctx.catalog.get(job_id))
        except NotFoundError:
            pass
    recent, _ = ctx.catalog.list(limit=100)
    ctx.metrics.observe_jobs(finished + recent)
    ctx.watched_jobs = live_ids


async def _reconcile_forever(ctx: AppContext, interval_s: float, stale_after: timedelta) -> None:
    while True:
        try:
            if not ctx.executor_connected and await asyncio.to_thread(_start_executor, ctx):
                # on the event loop's thread, before /readyz can say ready
                reclaim_signal_handlers()
                ctx.executor_connected, ctx.reconciled = True, False
            if ctx.executor_connected:
                await asyncio.to_thread(reconcile_tick, ctx, stale_after)
        except Exception:
            logger.exception("reconciler pass failed; retrying in %.1f s", interval_s)
        await asyncio.sleep(interval_s)


def reclaim_signal_handlers() -> None:
    """Connecting to Ray installs its native crash reporter as the process's SIGTERM
    handler (it prints a stack trace and kills the process), over the server's graceful
    shutdown. Re-install the Python-level handlers over it. Only the main thread may set
    handlers: an app served from another thread (tests) has none of its own to reclaim."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:
            signal.signal(sig, handler)

