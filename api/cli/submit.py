"""Submitting a job from the CLI and following it to the end (``settle``, ``rebill``).

Three ways, one output:

* ``m2c --api URL ...``: the remote API owns the job (``api.client``).
* ``RAY_ADDRESS`` set: the job is catalogued, handed to a detached runner on that
  cluster (``cluster.job_runner.submit_detached``), and followed with ``--wait``.
* embedded (the default): the job is catalogued and run in this process on a local
  Ray (``cluster.job_runner.run_inline``); it always waits, since the embedded
  cluster ends with the process. Ctrl-C cancels it (nothing is published).

The job's record comes from the catalog, so a month-end trigger that matches an
existing job returns that job instead of settling twice.
"""
from __future__ import annotations

import argparse
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from engine.errors import InputError, error_class
from jobs.states import JobState

from ..settings import Settings
from .output import ProgressLine, add_format, emit

POLL_S = 0.25


def add_job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true",
                   help="wait for the job to end (always so with the embedded local Ray)")
    p.add_argument("--idempotency-key", metavar="KEY",
                   help="a retry with the same key and request returns the original job")
    add_format(p)


def _job_doc(record: Any) -> dict:
    from ..models import JobPublic
    return JobPublic.from_record(record).model_dump(mode="json")


def _follow(get: Callable[[], dict], bar: ProgressLine) -> dict:
    while True:
        job = get()
        bar.update(job)
        if JobState(job["state"]).is_terminal:
            return job
        time.sleep(POLL_S)


def submit_and_follow(spec: dict, args: argparse.Namespace, settings: Settings) -> dict:
    """Submit ``spec``; return the job document (terminal unless not waiting)."""
    bar = ProgressLine()
    try:
        if settings.api_url:
            from ..client import ApiClient
            with ApiClient(settings.api_url, settings.api_key) as client:
                job = client.submit_job(spec, idempotency_key=args.idempotency_key)
                return _follow(lambda: client.get_job(job["id"]), bar) if args.wait else job
        return _local(spec, args, settings, bar)
    finally:
        bar.close()


def _local(spec: dict, args: argparse.Namespace, settings: Settings, bar: ProgressLine) -> dict:
    from jobs.catalog import JobCatalog
    from jobs.specs import parse_spec

    catalog = JobCatalog(settings.db_url)
    catalog.init_schema()
    record, _ = catalog.submit(parse_spec(spec), principal="cli",
                               idempotency_key=args.idempotency_key,
                               now_utc=datetime.now(timezone.utc))
    if record.is_terminal:
        return _job_doc(record)
    cluster = settings.cluster_config()
    common = dict(storage_config=settings.storage_config(), db_url=settings.db_url,
                  cluster_config=cluster)
    if settings.ray_address:
        from cluster.job_runner import submit_detached
        submit_detached(record.id, **common)
        get = lambda: _job_doc(catalog.get(record.id))  # noqa: E731
        return _follow(get, bar) if args.wait else get()

    from cluster.job_runner import run_inline
    from cluster.runtime import ensure_ray
    ensure_ray(cluster)            # in the main thread: Ray installs signal handlers there
    cancel = threading.Event()
    worker = threading.Thread(target=run_inline, args=(record.id,),
                              kwargs={**common, "cancel_event": cancel}, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            bar.update(_job_doc(catalog.get(record.id)))
            worker.join(POLL_S)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(30)
    return _job_doc(catalog.get(record.id))


def print_job(job: dict, args: argparse.Namespace, render_result: Callable[[dict], str]) -> int:
    """Print the job (and its result when it succeeded); exit 0 only on success or
    when not waiting for a job that is still running."""
    def text() -> str:
        lines = [f"{job['id']}: {job['state']}"]
        if job["state"] == JobState.SUCCEEDED and job.get("result"):
            lines.append(render_result(job["result"]))
        elif job.get("error"):
            err = job["error"]
            lines.append(f"error: {err.get('message') if isinstance(err, dict) else err}")
        return "\n".join(lines)
    emit(args, job, text)
    if job["state"] in (JobState.FAILED, JobState.CANCELLED):
        return 2 if _is_input_error(job) else 1
    return 0


def _is_input_error(job: dict) -> bool:
    """Did the job fail on bad input (exit 2), by the error hierarchy of its recorded type?"""
    err = job.get("error")
    return isinstance(err, dict) and issubclass(error_class(err.get("type")), InputError)
