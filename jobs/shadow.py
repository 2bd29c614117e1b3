"""``shadow_settlement``: ISO shadow settlement of resources over operating days, on Ray.

Plan: the resources (named, or every resource of the ISO in the site registry) x
the operating days, one item per resource-day keyed ``<resource>|<YYYY-MM-DD>``,
grouped ``max(partition_size, DAYS_PER_PARTITION)`` consecutive days of one resource
at a time (a partition never spans two resources). A week by default: a day's work is
a few milliseconds of engine against five table reads and a task's overhead, which a
partition per resource-day pays seven times over (``bench/market.py`` (5)). The input
versions (meter, prices, awards data versions and the site registry version) are
resolved once at planning and pinned in every item, so an ingest landing mid-job
changes nothing.

Map: each run of consecutive days of one resource in a partition reads its inputs
once for the whole run (``jobs.market``: five table reads, not five per day) and
settles it (``engine.market.shadow``; a range settled at once gives the lines of its
days settled one by one); the run's lines are staged as one Parquet part next to
the partition's result, which carries each day's totals and names the part.

Reduce: the staged parts, each read once, become one table in the lines' one order
(``sort_lines``: the bytes do not depend on the number of workers, the partition
size or the order partitions finished in), published
with ``storage.results.ResultStore(store, "shadow_settlement")`` under the job id:
``lines.parquet`` (the ``shadow`` table of ``engine.schema``) and ``summary.json``
(totals per resource and charge type, lines per charge type, the rule modules in
force with their sources), the manifest carrying the lineage (pinned versions,
rules).
"""
from __future__ import annotations

import io
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.canonical import canonical_json
from engine.errors import DataMissingError, InputError, JobError
from engine.market.lines import sort_lines
from engine.market.resources import resource_index
from engine.market.rules import describe
from engine.market.shadow import interval_counts, shadow_settle, totals
from engine.schema import SHADOW_SCHEMA
from storage.results import ResultStore
from storage.sites import load_sites

from .market import MarketVersions, load_inputs
from .planning import group_partitions, partition_key
from .specs import ShadowSettlementSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext, encode_key

RESULT_KIND = "shadow_settlement"
#: the fewest consecutive days of one resource a partition holds (the last may hold fewer)
DAYS_PER_PARTITION = 7


def _days(spec: ShadowSettlementSpec) -> list[date]:
    first, last = date.fromisoformat(spec.from_date), date.fromisoformat(spec.to_date)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def plan(spec: ShadowSettlementSpec, ctx: JobContext) -> list[Partition]:
    versions = MarketVersions.resolve(ctx.store, ctx.tables, spec.as_of)
    if versions.sites is None:
        raise DataMissingError("the site registry is empty: load sites with market.resources first")
    sites = load_sites(ctx.store, versions.sites)
    known = sorted(rid for iso, rid in resource_index(sites) if iso == spec.iso)
    resources = spec.resources if spec.resources is not None else known
    unknown = sorted(set(resources) - set(known))
    if unknown:
        raise InputError(f"unknown resource(s) {unknown} of {spec.iso}; the site registry "
                         f"declares {', '.join(known) or 'none'}")
    if not resources:
        raise InputError(f"the site registry declares no {spec.iso} resource (market.resources)")
    pinned = versions.to_dict()
    days = _days(spec)
    partitions: list[Partition] = []
    for rid in resources:              # per resource: a partition never spans two
        items = [(partition_key(rid, d.isoformat()), {"iso": spec.iso, "resource_id": rid,
                                                      "day": d.isoformat(), "versions": pinned})
                 for d in days]
        partitions += group_partitions(items, max(ctx.partition_size, DAYS_PER_PARTITION))
    return partitions


def _runs(items: list[dict]) -> list[list[dict]]:
    """The items in runs of consecutive operating days of one resource, as pinned alike."""
    runs: list[list[dict]] = []
    for item in items:
        p = item["params"]
        if runs:
            q = runs[-1][-1]["params"]
            if ((q["iso"], q["resource_id"], q["versions"]) == (p["iso"], p["resource_id"], p["versions"])
                    and date.fromisoformat(p["day"]) == date.fromisoformat(q["day"]) + timedelta(days=1)):
                runs[-1].append(item)
                continue
        runs.append([item])
    return runs


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    out = {}
    for run in _runs(partition.params["items"]):
        ctx.check_cancelled()
        p = run[0]["params"]
        versions = MarketVersions.from_dict(p["versions"])
        cache_key = f"sites@{versions.sites}"
        if cache_key not in ctx.cache:
            ctx.cache[cache_key] = load_sites(ctx.store, versions.sites)
        first, last = date.fromisoformat(p["day"]), date.fromisoformat(run[-1]["params"]["day"])
        inp = load_inputs(ctx.store, ctx.tables, versions, p["iso"], p["resource_id"], first, last,
                          ctx.cache[cache_key])
        lines = shadow_settle(inp, first, last)
        key = f"{ctx.part_prefix(partition)}lines-{encode_key(run[0]['key'])}.parquet"
        buf = io.BytesIO()
        pq.write_table(lines, buf, compression="zstd")
        ctx.stage(key, buf.getvalue())           # one part per run of days, named by its items
        operating_date = lines.column("operating_date")
        for item in run:
            day = date.fromisoformat(item["params"]["day"])
            day_lines = lines.filter(pc.equal(operating_date, pa.scalar(day, pa.date32()))) \
                if len(run) > 1 else lines
            out[item["key"]] = {"lines": key, "rows": day_lines.num_rows,
                                "totals_cents": totals(day_lines), "versions": item["params"]["versions"]}
    return {"items": out}


def reduce(spec: ShadowSettlementSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    items: dict[str, dict] = {}
    for key in sorted(results):
        items.update(results[key]["items"])
    tables = []
    for part in sorted({items[key]["lines"] for key in items}):     # each staged run once
        t = pq.read_table(io.BytesIO(ctx.store.get(part)))
        if t.num_rows:
            tables.append(t.cast(SHADOW_SCHEMA))
    lines = sort_lines(pa.concat_tables(tables)) if tables else SHADOW_SCHEMA.empty_table()
    pinned = {canonical_json(items[k]["versions"]) for k in items}
    if len(pinned) > 1:
        raise JobError("partitions read different input versions")
    by_resource: dict[str, dict[str, int]] = {}
    for key in sorted(items):
        rid = key.split("|")[0]
        acc = by_resource.setdefault(rid, {})
        for ct, cents in items[key]["totals_cents"].items():
            acc[ct] = acc.get(ct, 0) + int(cents)
    data_versions = items[sorted(items)[0]]["versions"] if items else {}
    summary = {"kind": RESULT_KIND, "iso": spec.iso, "from_date": spec.from_date,
               "to_date": spec.to_date, "resources": sorted(by_resource),
               "totals_cents": totals(lines), "totals_cents_by_resource": by_resource,
               "lines_by_charge_type": interval_counts(lines), "lines": lines.num_rows,
               "rules": describe(spec.iso)}
    buf = io.BytesIO()
    pq.write_table(lines, buf, compression="zstd")
    lineage = {"spec": spec.model_dump(mode="json"), "data_versions": data_versions,
               "rules": [r["module"] for r in summary["rules"]]}
    summary["data_versions"] = lineage["data_versions"]
    store = ResultStore(ctx.store, RESULT_KIND)
    store.publish(ctx.job_id, {"lines.parquet": buf.getvalue(),
                               "summary.json": canonical_json(summary)}, lineage)
    return {"result_id": ctx.job_id, "uri": f"{store.prefix(ctx.job_id)}/summary.json",
            "lines": lines.num_rows, "totals_cents": summary["totals_cents"],
            "resources": summary["resources"]}


KIND = JobKind(name="shadow_settlement", spec_type=ShadowSettlementSpec, plan=plan,
               run_partition=run_partition, reduce=reduce,
               description="ISO shadow settlement of resources x operating days")
