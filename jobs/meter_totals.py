"""``meter_totals``: an inventory/audit job over the stored meter table.

For every stored site-month in the requested range it computes, per channel, the
exact integer energy (Wh) and the interval counts by quality flag, from the deduped
meter rows *as of one data version*: the version is resolved once, at planning, and
pinned in every partition, so an ingest landing mid-job cannot make the totals mix
versions. Typical use: reconcile against a utility's or meter vendor's monthly
totals after ingest, or prove what a rebill will see.

Published atomically with ``storage.publish`` (``totals.json``, ``manifest.json``,
create-only ``_COMMITTED``) under ``audits/meter_totals/<job_id>/``; the document
(canonical JSON)::

    audits/meter_totals/<job_id>/totals.json
    {"kind": "meter_totals", "meter_version": 7, "from_period": "2026-01",
     "to_period": "2026-03", "sites": null,
     "rows": [{"site_id": "TX-DC1", "month": "2026-01", "channel": "gt1",
               "energy_wh": 186000000000, "intervals": 8928,
               "actual": 8900, "estimated": 28, "substituted": 0, "final": 0}, ...],
     "energy_wh": <sum of rows>, "intervals": <sum of rows>}

Rows are sorted by (site_id, month, channel); the bytes do not depend on the number
of workers, the partition size or the order partitions finished in. Energies are JSON
integers (exact; a site-month of a 250 MW plant is ~2e11 Wh, far below 2**53).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from engine.canonical import canonical_json
from engine.errors import DataMissingError, JobError
from engine.money import sum_exact
from storage.publish import MANIFEST, publish, read_committed, verify_part

from .planning import plan_site_months
from .specs import MeterTotalsSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext

QUALITY_COUNTS = {"A": "actual", "E": "estimated", "S": "substituted", "F": "final"}


TOTALS = "totals.json"


def result_prefix(job_id: str) -> str:
    return f"audits/meter_totals/{job_id}/"


def result_key(job_id: str) -> str:
    return result_prefix(job_id) + TOTALS


def plan(spec: MeterTotalsSpec, ctx: JobContext) -> list[Partition]:
    version = ctx.tables.resolve_as_of("meter", spec.as_of)
    if version is None:
        raise DataMissingError("the meter table is empty: ingest meter data first")
    inventory = ctx.tables.meter_partitions(as_of=version)
    parts = plan_site_months(inventory, from_period=spec.from_period, to_period=spec.to_period,
                             sites=spec.sites, size=ctx.partition_size,
                             params=lambda site, month: {"meter_version": version})
    if not parts:
        raise DataMissingError(f"no meter data stored between {spec.from_period} and "
                               f"{spec.to_period} (meter data version {version})")
    return parts


def site_month_totals(rows: Any) -> list[dict[str, Any]]:
    """Per-channel exact totals of one site-month's deduped meter rows (METER_SCHEMA)."""
    out = []
    channels = rows.column("channel")
    for channel in sorted(set(channels.to_pylist())):
        sel = rows.filter(pc.equal(channels, channel))
        quality = sel.column("quality").to_numpy(zero_copy_only=False)
        row = {"channel": channel,
               "energy_wh": sum_exact(sel.column("energy_wh").to_numpy()),
               "intervals": sel.num_rows}
        for flag, name in QUALITY_COUNTS.items():
            row[name] = int(np.count_nonzero(quality == flag))
        out.append(row)
    return out


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in partition.params["items"]:
        ctx.check_cancelled()
        p = item["params"]
        rows = ctx.tables.read_partition("meter", {"site_id": p["site_id"], "month": p["month"]},
                                         as_of=p["meter_version"])
        if rows.num_rows == 0:
            raise DataMissingError(f"site {p['site_id']} month {p['month']}: listed in meter data "
                                   f"version {p['meter_version']} but no rows could be read")
        out[item["key"]] = site_month_totals(rows)
    return {"meter_version": partition.params["items"][0]["params"]["meter_version"],
            "site_months": out}


def reduce(spec: MeterTotalsSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    rows: list[dict[str, Any]] = []
    versions = {r["meter_version"] for r in results.values()}
    if len(versions) != 1:
        raise JobError(f"partitions read different meter data versions {sorted(versions)}")
    (version,) = versions
    for key in sorted(results):
        for item_key, channels in sorted(results[key]["site_months"].items()):
            site_id, month = item_key.split("|")
            rows += [{"site_id": site_id, "month": month, **c} for c in channels]
    rows.sort(key=lambda r: (r["site_id"], r["month"], r["channel"]))
    doc = {"kind": "meter_totals", "meter_version": version, "from_period": spec.from_period,
           "to_period": spec.to_period, "sites": spec.sites, "rows": rows,
           "energy_wh": sum(r["energy_wh"] for r in rows),
           "intervals": sum(r["intervals"] for r in rows)}
    body = canonical_json(doc)
    prefix = result_prefix(ctx.job_id)
    # the manifest holds only deterministic fields: racing publishers write equal bytes
    manifest = {"kind": "meter_totals", "job_id": ctx.job_id, "meter_version": version}
    if not publish(ctx.store, prefix, {TOTALS: body}, manifest):
        committed = read_committed(ctx.store, prefix)
        if committed is None or verify_part(ctx.store, prefix, committed, TOTALS) != body:
            raise JobError(f"{prefix} already holds different totals (an earlier attempt)")
    return {"uri": result_key(ctx.job_id), "manifest": prefix + MANIFEST,
            "meter_version": version,
            "site_months": len({(r["site_id"], r["month"]) for r in rows}),
            "rows": len(rows), "energy_wh": doc["energy_wh"]}


KIND = JobKind(name="meter_totals", spec_type=MeterTotalsSpec, plan=plan,
               run_partition=run_partition, reduce=reduce,
               description="exact energy totals per site, channel and month (audit)")
