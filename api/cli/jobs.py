"""``m2c jobs list | show ID | wait ID | cancel ID``: job tracking.

Reads the job catalog (``M2C_DB``) directly, or a remote API with ``m2c --api URL``
(:mod:`api.cli.backend`); both print the same job document (the API's public job model) with ``--format json``.
No Ray connection is needed: a cancel is recorded in the catalog and the job's runner,
which polls it, stops the job within about a second.

``wait`` exits 0 when the job succeeded and 1 when it failed or was cancelled; on a
terminal it shows a progress line on stderr, updated in place.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable

from engine.errors import JobError
from jobs.states import JobState

from ..settings import Settings
from .backend import Backend, is_remote, open_backend
from .output import ProgressLine, add_format, emit, table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("jobs", help="track jobs: list, show, wait, cancel",
                              description="Job tracking (settlement, rebill, audit jobs).")
    sub = p.add_subparsers(dest="jobs_command", required=True)

    ls = sub.add_parser("list", help="jobs, newest first")
    ls.add_argument("--kind", help="only this kind (settlement, rebill, meter_totals)")
    ls.add_argument("--state", choices=[str(s) for s in JobState], help="only jobs in this state")
    ls.add_argument("--limit", type=int, default=20, help="page size (default 20, at most 500)")
    ls.add_argument("--cursor", help="next_cursor of the previous page")
    add_format(ls)
    ls.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="one job: state, progress, error, result")
    show.add_argument("job_id", metavar="ID")
    add_format(show)
    show.set_defaults(handler=cmd_show)

    wait = sub.add_parser("wait", help="wait for a job to end; exit 0 if it succeeded, else 1")
    wait.add_argument("job_id", metavar="ID")
    wait.add_argument("--timeout", type=float, default=None, metavar="S",
                      help="give up after S seconds (exit 1; the job keeps running)")
    wait.add_argument("--poll", type=float, default=0.5, metavar="S", help="poll interval (0.5)")
    add_format(wait)
    wait.set_defaults(handler=cmd_wait)

    cancel = sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id", metavar="ID")
    add_format(cancel)
    cancel.set_defaults(handler=cmd_cancel)

    audit = sub.add_parser(
        "meter-totals", help="audit job: exact energy per site, channel and month",
        description="Exact energy totals (Wh) and interval counts by quality flag per site, "
                    "channel and site-local month, from the stored meter data as of one data "
                    "version; for reconciling with a utility's or vendor's totals.")
    audit.add_argument("--from", dest="from_period", required=True, metavar="YYYY-MM")
    audit.add_argument("--to", dest="to_period", required=True, metavar="YYYY-MM")
    audit.add_argument("--site", dest="sites", action="append", metavar="ID",
                       help="only this site (repeatable); default: every site")
    audit.add_argument("--as-of", type=int, default=None, metavar="VERSION",
                       help="meter data version (default: the current one)")
    from .submit import add_job_options
    add_job_options(audit)
    audit.set_defaults(handler=cmd_meter_totals)


def _with_source(settings: Settings, fn: Callable[[Backend], int]) -> int:
    with open_backend(settings) as backend:
        return fn(backend)


# -- rendering ---------------------------------------------------------------------------------

def _progress_text(job: dict) -> str:
    p = job.get("progress") or {}
    return f"{p.get('done', 0)}/{p.get('total', 0)}" if p.get("total") else "-"


def _error_text(job: dict) -> str:
    err = job.get("error")
    if not err:
        return ""
    return f"{err.get('type')}: {err.get('message')}" if isinstance(err, dict) else str(err)


def _table(jobs: list[dict]) -> str:
    rows = [("ID", "KIND", "STATE", "PROGRESS", "ATTEMPT", "CREATED (UTC)", "ERROR")]
    for j in jobs:
        error = _error_text(j)
        rows.append((j["id"], j["kind"], j["state"], _progress_text(j), str(j.get("attempt", "")),
                     str(j["created_at"]).replace("T", " ")[:19],
                     error if len(error) <= 60 else error[:57] + "..."))
    return table(rows)


def _details(job: dict) -> str:
    lines = [f"job       {job['id']}", f"kind      {job['kind']}", f"state     {job['state']}",
             f"progress  {_progress_text(job)} partitions", f"attempt   {job.get('attempt')}",
             f"created   {job.get('created_at')}", f"started   {job.get('started_at') or '-'}",
             f"finished  {job.get('finished_at') or '-'}",
             f"spec      {json.dumps(job.get('spec'), sort_keys=True)}"]
    if job.get("error"):
        lines.append(f"error     {_error_text(job)}")
    if job.get("result") is not None:
        lines.append(f"result    {json.dumps(job['result'], sort_keys=True)}")
    return "\n".join(lines)


# -- commands ----------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    def run(src: Backend) -> int:
        page = src.list_jobs(args.kind, args.state, args.limit, args.cursor)
        jobs, next_cursor = page["data"], page.get("next_cursor")
        text = _table(jobs) if jobs else "no jobs"
        if next_cursor:
            text += f"\n(more: --cursor {next_cursor})"
        emit(args, {"data": jobs, "next_cursor": next_cursor}, text)
        return 0
    return _with_source(settings, run)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    def run(src: Backend) -> int:
        job = src.get_job(args.job_id)
        emit(args, job, _details(job))
        return 0
    return _with_source(settings, run)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    def run(src: Backend) -> int:
        job = src.cancel_job(args.job_id)
        emit(args, job, f"{job['id']}: {job['state']}")
        return 0
    return _with_source(settings, run)


def cmd_wait(args: argparse.Namespace, settings: Settings) -> int:
    def run(src: Backend) -> int:
        bar = ProgressLine()
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        try:
            while True:
                job = src.get_job(args.job_id)
                bar.update(job)
                if JobState(job["state"]).is_terminal:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise JobError(f"job {args.job_id} is still {job['state']} after "
                                   f"{args.timeout:g} s (it keeps running)")
                time.sleep(args.poll)
        finally:
            bar.close()
        summary = f"{job['id']}: {job['state']}"
        if job.get("error"):
            summary += f": {_error_text(job)}"
        emit(args, job, summary if job["state"] != JobState.SUCCEEDED else _details(job))
        return 0 if job["state"] == JobState.SUCCEEDED else 1
    return _with_source(settings, run)


def _render_totals(result: dict, store_text: str | None) -> str:
    lines = [f"meter data version {result.get('meter_version')}: {result.get('site_months')} "
             f"site-months, {result.get('rows')} channel rows, "
             f"{_mwh(result.get('energy_wh', 0))} MWh", f"document: {result.get('uri')}"]
    if store_text:
        doc = json.loads(store_text)
        rows = [("SITE", "MONTH", "CHANNEL", "ENERGY_MWH", "INTERVALS", "ESTIMATED", "SUBSTITUTED")]
        rows += [(r["site_id"], r["month"], r["channel"], _mwh(r["energy_wh"]), r["intervals"],
                  r["estimated"], r["substituted"]) for r in doc["rows"]]
        lines.append(table(rows, right={3, 4, 5, 6}))
    return "\n".join(lines)


def _mwh(energy_wh: int) -> str:
    from engine.units import wh_to_mwh_str
    return wh_to_mwh_str(int(energy_wh))


def cmd_meter_totals(args: argparse.Namespace, settings: Settings) -> int:
    from .submit import print_job, submit_and_follow
    spec = {"kind": "meter_totals", "from_period": args.from_period, "to_period": args.to_period,
            "sites": args.sites, "as_of": args.as_of}
    job = submit_and_follow(spec, args, settings)

    def render(result: dict) -> str:
        text = None
        if not is_remote(settings) and result.get("uri"):      # the totals document is local
            from storage.objectstore import ObjectStore
            text = ObjectStore.from_config(settings.storage_config()).get(result["uri"]).decode()
        return _render_totals(result, text)

    return print_job(job, args, render)
