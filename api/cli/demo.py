"""``m2c demo``: build a demo portfolio, ingest it, validate it; rerunning is safe.

The demo is a list of named steps (``STEPS``) run in order over one
``DemoRun``; each step returns a JSON-able summary and may print. A later step
(settlement of the last full month on Ray, printing the invoices) is added by
appending to ``STEPS`` (or ``add_step``) without touching the others.

1. build     ``jobs.demo.build_portfolio`` (pure, deterministic)
2. files     write the canonical files under ``$M2C_HOME/demo/`` (byte-identical on rerun)
3. bucket    on an S3 root: the bucket created if missing and meter2cash's lifecycle
             rules set and read back (``storage.bucket``, minio-py; a rule the server
             refuses is reported); nothing on a local folder
4. sites     load the registry into storage (skipped when already identical)
5. ingest    meter, meter resend, prices, index through ``storage.ingest``;
             files ingested before are reported "already ingested"
6. vee       VEE of the last full month of every site, summarised per site
7. settle    month-end settlement of the last full month on Ray (the ``m2c settle``
             path: catalogued job, warm workers, atomically published invoices),
             then the invoices are printed; a rerun returns the same job

The ``contracts`` step (after ``sites``) writes the demo contracts
(``jobs.demo_contracts``) as ``$M2C_HOME/demo/contracts/<id>.yaml`` (e.g.
``ppa_tx_dc1.yaml``, the file the README's walk-through adds) and adds them; a rerun
finds them unchanged.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.sites import CHANNEL_KINDS, Site
from engine.units import WH_PER_MWH

from ..settings import Settings
from .backend import local_only
from .output import add_format, print_json, wants_json


@dataclass
class DemoRun:
    """State shared by the demo steps (plain values; storage objects made once)."""
    args: argparse.Namespace
    settings: Settings
    now_utc: datetime
    directory: Path
    quiet: bool = False
    store: Any = None               # storage.objectstore.ObjectStore
    portfolio: Any = None           # jobs.demo.DemoPortfolio
    files: dict[str, list[Path]] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    vee: dict[str, Any] = field(default_factory=dict)       # site_id -> VeeResult

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(text)


Step = tuple[str, Callable[[DemoRun], dict]]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="build, ingest and validate a demo portfolio "
                                           "(rerunning is safe)")
    p.add_argument("--sites", type=int, default=3, metavar="N", help="number of sites (default 3)")
    p.add_argument("--months", type=int, default=3, metavar="M",
                   help="full local months of data (default 3)")
    p.add_argument("--minutes", type=int, default=5, choices=[1, 5, 15, 30, 60], metavar="K",
                   help="meter interval in minutes (default 5)")
    p.add_argument("--seed", type=int, default=7, metavar="S", help="random seed (default 7)")
    p.add_argument("--end-period", default="2026-10", metavar="YYYY-MM",
                   help="last (full) month of data (default 2026-10)")
    add_format(p)
    p.set_defaults(handler=demo_command)


# ------------------------------------------------------------------ steps

def step_build(run: DemoRun) -> dict:
    from jobs.demo import build_portfolio
    a = run.args
    try:
        run.portfolio = build_portfolio(a.sites, a.months, a.minutes, a.seed, a.end_period)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    p = run.portfolio
    return {"sites": sorted(p.sites), "periods": list(p.periods), "minutes": p.minutes,
            "seed": p.seed, "meter_rows": p.meter_wh.num_rows,
            "price_series": len(p.price_series),
            "injected": [{"check": i.check, "site_id": i.site_id, "channel": i.channel,
                          "detail": i.detail} for i in p.injected]}


def step_files(run: DemoRun) -> dict:
    from jobs.demo import write_demo_files
    run.files = write_demo_files(run.portfolio, run.directory)
    return {"directory": str(run.directory),
            "files": {k: len(v) for k, v in run.files.items()}}


def step_bucket(run: DemoRun) -> dict:
    from storage.bucket import provision
    return provision(run.store)


def step_sites(run: DemoRun) -> dict:
    from storage.sites import load_sites, merge_sites, registry_versions
    incoming = run.portfolio.sites
    current = load_sites(run.store)
    if all(current.get(sid) == site for sid, site in incoming.items()):
        run.sites = current
        versions = registry_versions(run.store)
        return {"status": "unchanged", "version": versions[-1] if versions else None}
    version, added, replaced = merge_sites(run.store, incoming)
    run.sites = load_sites(run.store)
    return {"status": "saved", "version": version, "added": added, "replaced": replaced}


def step_ingest(run: DemoRun) -> dict:
    from storage.ingest import ingest_index, ingest_meter, ingest_prices
    out = {}
    calls = [
        ("meter", lambda paths: ingest_meter(run.store, paths, "csv", sites=run.sites,
                                             now_utc=run.now_utc)),
        ("meter_resend", lambda paths: ingest_meter(run.store, paths, "csv", sites=run.sites,
                                                    now_utc=run.now_utc)),
        ("prices", lambda paths: ingest_prices(run.store, paths, now_utc=run.now_utc)),
        ("index", lambda paths: ingest_index(run.store, paths, now_utc=run.now_utc)),
    ]
    for name, call in calls:
        paths = run.files.get(name) or []
        if not paths:
            continue
        rep = call(paths)
        statuses = sorted({f.message for f in rep.files})
        out[name] = {"files": len(rep.files), "rows_new": rep.rows_new,
                     "rows_superseded": rep.rows_superseded,
                     "rows_unchanged": rep.rows_unchanged, "version": rep.version,
                     "status": ", ".join(statuses)}
    return out


def step_vee(run: DemoRun) -> dict:
    from jobs.settle_inputs import validate_site_month
    from storage.tables import Tables
    tables = Tables(run.store)
    period = run.portfolio.end_period
    out = {}
    for site_id in sorted(run.portfolio.sites):
        site = run.sites[site_id]
        result = validate_site_month(tables, site, period, as_of=None)
        run.vee[site_id] = result
        energy: dict[str, int] = {}
        for c in result.channels.values():
            energy[c.kind] = energy.get(c.kind, 0) + c.energy_total_wh
        out[site_id] = {"period": period, **result.counts.to_dict(),
                        "findings_by_check": result.findings_by_check(),
                        "energy_wh_by_kind": {k: energy[k] for k in CHANNEL_KINDS if k in energy}}
    return out


def contract_file_name(contract_id: str) -> str:
    """``PPA-TX-DC1`` -> ``ppa_tx_dc1.yaml``: the demo's contract files, as the README names them."""
    return contract_id.lower().replace("-", "_") + ".yaml"


def step_contracts(run: DemoRun) -> dict:
    """Write each demo contract as the YAML file a user would add (``contracts/*.yaml``,
    byte-identical on rerun), then add it as ``m2c contracts add`` does."""
    import yaml

    from jobs.demo_contracts import demo_contracts
    from storage.contracts import ContractStore
    contracts = ContractStore(run.store)
    folder = run.directory / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for doc in demo_contracts(len(run.portfolio.sites)):
        path = folder / contract_file_name(doc["contract_id"])
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        stored, created = contracts.add(doc, sites=run.sites, source=str(path))
        out[stored.version.contract_id] = {"version": stored.version.version,
                                           "status": "stored" if created else "unchanged",
                                           "terms": [t.kind for t in stored.version.terms],
                                           "file": str(path)}
    return out


def step_settle(run: DemoRun) -> dict:
    """Settle the last full month on Ray (the same path as ``m2c settle``)."""
    from engine.errors import JobError
    from storage.invoices import InvoiceStore

    from .submit import submit_and_follow
    spec = {"kind": "settlement", "period": run.portfolio.end_period}
    job = submit_and_follow(spec, argparse.Namespace(wait=True, idempotency_key=None),
                            run.settings)
    if job["state"] != "succeeded":
        err = job.get("error") or {}
        raise JobError(f"demo settlement job {job['id']} {job['state']}: {err.get('message', '')}")
    invoices = InvoiceStore(run.store)
    docs = [invoices.get(i["contract_id"], i["period"], i["version"])[0]
            for i in job["result"]["invoices"]]
    return {"job_id": job["id"], "invoices": docs}


STEPS: list[Step] = [
    ("build", step_build),
    ("files", step_files),
    ("bucket", step_bucket),
    ("sites", step_sites),
    ("contracts", step_contracts),
    ("ingest", step_ingest),
    ("vee", step_vee),
    ("settle", step_settle),
]


def add_step(name: str, fn: Callable[[DemoRun], dict], *, after: str | None = None) -> None:
    """Add a step (e.g. settlement) at the end, or right after the step ``after``."""
    names = [n for n, _ in STEPS]
    STEPS.insert(names.index(after) + 1 if after else len(STEPS), (name, fn))


# ------------------------------------------------------------------ printing

def _mwh(wh: int) -> str:
    return f"{Decimal(wh) / WH_PER_MWH:,.3f}"


def _print_step(run: DemoRun, name: str, summary: dict, seconds: float) -> None:
    if name == "build":
        run.say(f"built {len(summary['sites'])} sites ({', '.join(summary['sites'])}), "
                f"{summary['periods'][0]}..{summary['periods'][-1]} at {summary['minutes']} min, "
                f"seed {summary['seed']}: {summary['meter_rows']:,} meter rows, "
                f"{summary['price_series']} price series  [{seconds:.1f} s]")
        if summary["injected"]:
            where = summary["injected"][0]["site_id"]
            what = "; ".join(f"{i['detail']} on {i['channel']}" for i in summary["injected"])
            run.say(f"  injected for VEE to find ({where}, {summary['periods'][-1]}): {what}")
    elif name == "files":
        counts = ", ".join(f"{n} {k}" for k, n in summary["files"].items() if n)
        run.say(f"wrote files under {summary['directory']}: {counts}  [{seconds:.1f} s]")
    elif name == "bucket":
        if summary["bucket"] is not None:
            rules = ", ".join(f"{r['id']} {r['status']}" for r in summary["rules"])
            run.say(f"bucket {summary['bucket']}: {'created' if summary['created'] else 'exists'}"
                    f"; lifecycle rules: {rules}")
            for r in summary["rules"]:
                if r["status"] != "applied":
                    run.say(f"  {r['id']}: {r['status']}: {r['detail']}")
    elif name == "sites":
        run.say(f"site registry: {summary['status']} (version {summary['version']})")
    elif name == "ingest":
        for table, r in summary.items():
            run.say(f"ingest {table:<13} {r['files']:>2} files: {r['rows_new']:>9,} new, "
                    f"{r['rows_superseded']:>7,} superseded, {r['rows_unchanged']:>9,} unchanged"
                    f" -> data version {r['version']} ({r['status']})")
        run.say(f"  [{seconds:.1f} s]")
    elif name == "vee":
        _print_vee(run, summary)
        run.say(f"  [{seconds:.1f} s]")
    elif name == "contracts":
        for cid, c in summary.items():
            run.say(f"contract {cid:<20} v{c['version']} {c['status']:<9} {', '.join(c['terms'])}")
        if summary:
            run.say(f"  (contract files: {run.directory / 'contracts'}/*.yaml)")
    elif name == "settle":
        from .invoices import render_invoice
        run.say("")
        run.say(f"settlement {run.portfolio.end_period}: job {summary['job_id']}, "
                f"{len(summary['invoices'])} invoices  [{seconds:.1f} s]")
        for doc in summary["invoices"]:
            run.say("")
            run.say(render_invoice(doc))
        run.say("")
        run.say("next: m2c invoices show CONTRACT PERIOD --format html | "
                "m2c invoices explain CONTRACT PERIOD LINE_ID | m2c invoices approve CONTRACT PERIOD")
    else:
        run.say(f"{name}: done  [{seconds:.1f} s]")


def _print_vee(run: DemoRun, summary: dict) -> None:
    from engine.vee.reporting import text_table
    period = next(iter(summary.values()))["period"] if summary else ""
    run.say("")
    run.say(f"VEE {period} (validated and estimated intervals, all channels)")
    rows = [[sid, str(s["intervals_expected"]), str(s["actual"]), str(s["estimated"]),
             str(s["missing"]),
             ", ".join(f"{k} {n}" for k, n in s["findings_by_check"].items()) or "-"]
            for sid, s in summary.items()]
    for line in text_table(["site", "expected", "actual", "estimated", "missing", "findings"],
                       rows, {1, 2, 3, 4}):
        run.say(line)
    run.say("")
    run.say(f"energy {period} by channel kind (MWh)")
    kinds = [k for k in CHANNEL_KINDS if any(k in s["energy_wh_by_kind"] for s in summary.values())]
    rows = [[sid, *(_mwh(s["energy_wh_by_kind"].get(k, 0)) for k in kinds)]
            for sid, s in summary.items()]
    for line in text_table(["site", *kinds], rows, set(range(1, len(kinds) + 1))):
        run.say(line)
    run.say("(details: m2c vee SITE --period " f"{period})")


# ------------------------------------------------------------------ entry point

@local_only("demo", "it writes its files under M2C_HOME and loads, ingests and settles them "
                    "on this machine")
def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.objectstore import ObjectStore

    run = DemoRun(args=args, settings=settings, now_utc=datetime.now(timezone.utc),
                  directory=settings.home / "demo", quiet=args.format == "json")
    run.store = ObjectStore.from_config(settings.storage_config())
    for name, fn in list(STEPS):
        t0 = time.perf_counter()
        summary = fn(run)
        run.results[name] = summary
        _print_step(run, name, summary, time.perf_counter() - t0)
        sys.stdout.flush()
    if wants_json(args):
        print_json(run.results)
    return 0
