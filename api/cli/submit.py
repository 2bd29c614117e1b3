"""Submitting a job from the CLI and following it to the end (``settle``, ``rebill``,
``jobs meter-totals``).

Where the job goes is chosen once, by the backend (:mod:`api.cli.backend`):

* ``m2c --api URL ...``: the remote API owns the job (:class:`~api.cli.backend.Remote`).
* ``RAY_ADDRESS`` set: the job is catalogued, handed to a detached runner on that
  cluster (``cluster.job_runner.submit_detached``), and followed with ``--wait``.
* otherwise: the job is catalogued and run by this process on the local cluster that
  ``m2c cluster start`` keeps running, or, when there is none, on an embedded Ray
  started for the purpose and ended after it. It always waits (the job's driver is
  this process); Ctrl-C cancels it (nothing is published).

A first line goes to stderr at once (the job, then which Ray), so a command is never
silent while Ray starts, with or without a terminal.

**Once per job.** The catalog returns the existing job for a repeated request (its
natural key, e.g. the month-end settlement of a period, or the Idempotency-Key). A job
run in a CLI process is run by the process holding its *runner lock*: an exclusive
``flock`` on ``<catalog file>.runners/<job id>.lock`` (SQLite), or a session advisory
lock (PostgreSQL), which is released when that process ends, however it ends. So a
second ``m2c settle`` of a period while the first runs does not run it again: it
follows the first (same job id; it exits with the job's exit code), and if the first
process dies it takes the job over and resumes it (committed partitions are not
recomputed). Jobs submitted through the API are run by the API's runners and only
followed here.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from engine.errors import InputError, error_class
from jobs.states import JobState

from ..settings import Settings
from .output import ProgressLine, add_format, emit

if TYPE_CHECKING:  # pragma: no cover
    from jobs.catalog import JobCatalog, JobRecord

POLL_S = 0.25
#: principal of jobs the CLI submits (an API key's id otherwise)
CLI_PRINCIPAL = "cli"


def add_job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true",
                   help="wait for the job to end (always so when the job runs in this process)")
    p.add_argument("--idempotency-key", metavar="KEY",
                   help="a retry with the same key and request returns the original job")
    add_format(p)


def note(text: str) -> None:
    """One progress line for people, on stderr (stdout is the command's output)."""
    print(text, file=sys.stderr, flush=True)


def follow(get: Callable[[], dict], bar: ProgressLine) -> dict:
    """Poll ``get()`` until the job is terminal; the terminal job document."""
    while True:
        job = get()
        bar.update(job)
        if JobState(job["state"]).is_terminal:
            return job
        time.sleep(POLL_S)


def submit_and_follow(spec: dict, args: argparse.Namespace, settings: Settings) -> dict:
    """Submit ``spec`` where the settings say; return the job document (terminal unless
    not waiting on a job that runs elsewhere)."""
    from .backend import open_backend
    bar = ProgressLine()
    try:
        with open_backend(settings) as backend:
            return backend.submit_job(spec, idempotency_key=args.idempotency_key,
                                      wait=bool(args.wait), bar=bar)
    finally:
        bar.close()


# -- the local path ------------------------------------------------------------------------

def _job_doc(record: Any) -> dict:
    from ..models import JobPublic
    return JobPublic.from_record(record).model_dump(mode="json")


def _label(spec: dict) -> str:
    what = spec.get("period") or "..".join(str(spec[k]) for k in ("from_period", "to_period")
                                          if spec.get(k))
    return f"{spec.get('kind')} {what}".strip()


class RunnerLock:
    """The exclusive right to run one job in a CLI process (see the module docstring):
    the catalog database's process lock ``runners/<job id>`` (:meth:`jobs.db.Database.process_lock`)."""

    def __init__(self, catalog: "JobCatalog", job_id: str):
        self._lock = catalog.db.process_lock("runners", job_id)

    def acquire(self) -> bool:
        """Take the lock if nobody holds it (never blocks)."""
        return self._lock.acquire()

    def holder(self) -> str:
        """Who holds it, for messages (``process 1234``)."""
        return self._lock.holder()

    def release(self, *, remove: bool) -> None:
        """Release; ``remove`` the file too once the job is terminal (a process that
        takes the lock later reads the catalog first, so it cannot run a finished job)."""
        self._lock.release(remove=remove)


def run_local(spec: dict, *, settings: Settings, idempotency_key: str | None, wait: bool,
              bar: ProgressLine) -> dict:
    """Catalog ``spec`` and run or follow it (see the module docstring)."""
    from jobs.catalog import JobCatalog
    from jobs.specs import parse_spec

    parsed = parse_spec(spec)
    _check_against_store(parsed, settings)
    catalog = JobCatalog(settings.db_url)
    catalog.init_schema()
    record, created = catalog.submit(parsed, principal=CLI_PRINCIPAL,
                                     idempotency_key=idempotency_key,
                                     now_utc=datetime.now(timezone.utc))
    if record.is_terminal:
        note(f"{_label(spec)}: job {record.id} already {record.state}")
        return _job_doc(record)
    note(f"{_label(spec)}: job {record.id} " + ("queued" if created else
                                                f"already {record.state}; not started again"))
    if settings.ray_address:
        return _detached(record, catalog, settings, created=created, wait=wait, bar=bar)
    return _inline(record, catalog, settings, bar=bar)


def _check_against_store(spec: Any, settings: Settings) -> None:
    """The kind's check of the spec against the store (``JobKind.check``), before the
    job is recorded: what ``POST /v1/jobs`` refuses with 422, refused here with exit 2."""
    from jobs.kinds import get_kind
    kind = get_kind(spec.kind)
    if kind.check is not None:
        from storage.objectstore import ObjectStore
        kind.check(spec, ObjectStore.from_config(settings.storage_config()))


def _detached(record: "JobRecord", catalog: "JobCatalog", settings: Settings, *, created: bool,
              wait: bool, bar: ProgressLine) -> dict:
    """Hand the job to a detached runner on the RAY_ADDRESS cluster (idempotent: one
    runner per job) and follow it from the catalog."""
    from engine.errors import JobError
    if created or record.state == JobState.QUEUED:
        from cluster.job_runner import submit_detached
        note(f"handing job {record.id} to a runner on the Ray cluster at {settings.ray_address}")
        try:
            submit_detached(record.id, storage_config=settings.storage_config(),
                            db_url=settings.db_url, cluster_config=settings.cluster_config())
        except JobError:
            if created:
                raise
            # another submitter's runner is starting or finishing it: follow the catalog
    get = lambda: _job_doc(catalog.get(record.id))  # noqa: E731
    return follow(get, bar) if wait else get()


def _inline(record: "JobRecord", catalog: "JobCatalog", settings: Settings, *,
            bar: ProgressLine) -> dict:
    """Run the job in this process if it is ours to run (we hold its runner lock), else
    follow whoever runs it, taking over if that process dies."""
    lock = RunnerLock(catalog, record.id)
    told = False
    while True:
        rec = catalog.get(record.id)
        ours = rec.principal == CLI_PRINCIPAL and not (rec.runner or "").startswith("ray-actor:")
        if rec.is_terminal:
            return _job_doc(rec)
        if ours and lock.acquire():
            try:
                rec = catalog.get(record.id)          # under the lock: the state is settled
                if rec.is_terminal:
                    return _job_doc(rec)
                if told:
                    note(f"job {rec.id}: the process running it is gone; taking it over "
                         "(committed partitions are kept)")
                return _run_inline(rec, catalog, settings, bar)
            finally:
                lock.release(remove=catalog.get(record.id).is_terminal)
        if not told:
            who = lock.holder() if ours else "the API's runner"
            note(f"job {rec.id} is being run by {who}; following it (Ctrl-C stops following, "
                 "the job goes on)")
            told = True
        bar.update(_job_doc(rec))
        time.sleep(POLL_S)


def _run_inline(rec: "JobRecord", catalog: "JobCatalog", settings: Settings,
                bar: ProgressLine) -> dict:
    from cluster.local import read as read_local_cluster
    cluster = settings.cluster_config()
    local = read_local_cluster(cluster.local_state_file)
    from cluster.job_runner import run_inline
    from cluster.runtime import connected, ensure_ray, shutdown
    if connected():
        pass                             # this process has its Ray already (tests, the demo)
    elif local is not None:
        note(f"joining the local Ray cluster at {local.address}")
    else:
        note("starting an embedded Ray for this command (`m2c cluster start` keeps one "
             "running between commands)...")
    mode = ensure_ray(cluster)           # in the main thread: Ray installs signal handlers there
    cancel = threading.Event()
    worker = threading.Thread(target=run_inline, args=(rec.id,), daemon=True, kwargs={
        "storage_config": settings.storage_config(), "db_url": settings.db_url,
        "cluster_config": cluster, "cancel_event": cancel})
    worker.start()
    try:
        while worker.is_alive():
            bar.update(_job_doc(catalog.get(rec.id)))
            worker.join(POLL_S)
    except KeyboardInterrupt:            # Ctrl-C: cancel the job (nothing is published)
        cancel.set()
        worker.join(30)
    finally:
        if mode == "embedded":
            shutdown()                   # with every process of the embedded node
    return _job_doc(catalog.get(rec.id))


# -- printing ------------------------------------------------------------------------------

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
