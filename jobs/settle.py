"""``settlement``: month-end settlement of every contract active in a billing period,
or in each of consecutive periods (a backfill: one job, each period its own invoices).

Pins (once per job, :func:`jobs.settle_inputs.pin_inputs`): the first attempt to
plan resolves the data versions (``meter``, ``prices``, ``index``, site registry;
``as_of`` if given) and, per contract, the contract-version cap (its latest version
then; for every stored contract, or the ones named), and stores them create-only in
``runs/<job_id>/pins-<spec>.json``. Every attempt, the first and any resume, plans
from those pins: contracts added, amended or data landed after the first plan are
not seen, and partitions committed by a dead attempt are valid for the next one.

Plan (pure apart from inventory reads): for each period, for each pinned contract
active in it and not already approved, one item per (contract, site, month): the
billing month, plus the earlier months a ``min_delivery`` term needs when this
period closes its guarantee period (``jobs.contract_period.contract_items``). Items
are keyed ``<period>|<contract>|<site>|<month>`` and grouped ``partition_size`` at a
time; each carries the pinned inputs.

Map (on a warm worker): ``jobs.settle_inputs.site_partial`` per item; the interval
detail is written next to the partition's result, already in the invoice's Parquet
encoding; the result is the partial's exact integer sums (small JSON) and, for a
billing month, the site-month's completeness counts and limits
(``jobs.settle_inputs.CompletenessRecorder``) and, with carbon tracing on (the default;
``carbon: false`` in the spec turns it off), the traced site's exact carbon partial
(``jobs.carbon.CarbonRecorder``: the same VEE channels, the pinned grid factors and
certificate registry; no second read, no amount touched).

Reduce (in the job runner). First the completeness gate, over **every** partition
of every contract and period (``engine.completeness.shortfalls``): if any is short
and the spec does not say ``allow_incomplete``, the job fails listing all of them
(the full list also in ``runs/<job_id>/completeness.json``) and publishes nothing.
Then, per period in order and per contract in batches: finalize its items
(``jobs.contract_period.finalize_items``: combine the partials, order-free, then the
period-level terms, one rounding per line; and the carbon partials into the ESG annex,
``jobs.carbon.contract_annex``), build the invoice document (status
``estimated`` with its shortfalls when short and allowed, else ``draft``) and
publish it atomically as the next version (``jobs.invoicing``), unless it is
identical to the latest version (then nothing new is written).
"""
from __future__ import annotations

import logging

from engine.canonical import canonical_json
from engine.completeness import Shortfall, SiteMonthCompleteness, describe, invoice_block, shortfalls
from engine.contract import active_in_period
from engine.errors import DataMissingError, InputError, JobError
from storage.contracts import ContractStore, StoredContract
from storage.invoices import InvoiceStore, detail_to_parquet
from storage.parallel_io import map_io

from .carbon import CarbonRecorder, contract_annex
from .contract_period import contract_items, finalize_items
from .invoicing import PUBLISH_BATCH, InvoiceDraft, PublishedInvoice, publish_invoices
from .planning import KEY_SEP, group_partitions
from .settle_inputs import (CompletenessRecorder, DataVersions, chain, load_contract, load_pins,
                            partial_to_dict, pin_inputs, pins_key, require_contract, require_data,
                            site_partial)
from .specs import SettlementSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext, encode_key

logger = logging.getLogger(__name__)

__all__ = ["plan", "run_partition", "reduce", "KIND", "REDUCE_THREADS", "pinned_inputs"]

#: contracts finalized concurrently. Finalizing waits on the store (reading the
#: partitions' detail) and, for a contract over several site-months, on Arrow
#: (combining and encoding their detail), without the GIL.
REDUCE_THREADS = 4


def pinned_inputs(spec: SettlementSpec, ctx: JobContext
                  ) -> tuple[DataVersions, dict[str, list[StoredContract]]]:
    """The job's pinned data versions and, per contract, its stored versions up to the
    pinned cap: resolved and pinned by the job's first attempt, read back by every
    later one (:func:`jobs.settle_inputs.pin_inputs`)."""
    loaded: dict[str, list[StoredContract]] = {}

    def resolve() -> dict:
        data = DataVersions.resolve(ctx.tables, ctx.store, spec.as_of, carbon=spec.carbon)
        require_data(data)
        ids = spec.contracts or ContractStore(ctx.store).contract_ids()
        loaded.update(zip(ids, map_io(lambda cid: require_contract(ctx.store, cid), ids)))
        return {"data": data.to_dict(),
                "contracts": {cid: loaded[cid][-1].version.version for cid in ids}}
    pins = pin_inputs(ctx.store, ctx.job_id, spec, resolve)
    caps = {cid: int(cap) for cid, cap in pins["contracts"].items()}

    def versions(cid: str) -> list[StoredContract]:
        if cid in loaded and loaded[cid][-1].version.version == caps[cid]:
            return loaded[cid]                 # this attempt pinned them: already read
        return ContractStore(ctx.store).versions(cid, up_to=caps[cid])
    return DataVersions.from_dict(pins["data"]), dict(zip(caps, map_io(versions, list(caps))))


def plan(spec: SettlementSpec, ctx: JobContext) -> list[Partition]:
    data, stored = pinned_inputs(spec, ctx)
    require_data(data)
    invoices = InvoiceStore(ctx.store)
    if spec.contracts:
        for cid in spec.contracts:
            if not any(active_in_period([s.version for s in stored[cid]], p) for p in spec.periods):
                cv = stored[cid][-1].version
                when = spec.period or f"{spec.from_period}..{spec.to_period}"
                raise InputError(f"contract {cid} is not active in {when} "
                                 f"(term {cv.term_start} to {cv.term_end})")

    def contract_plan(job: tuple[str, str]) -> list[tuple[str, dict]]:
        period, cid = job
        if not active_in_period([s.version for s in stored[cid]], period):
            return []
        if invoices.latest_approved(cid, period) is not None:
            logger.info("settlement %s: %s already approved; not settled again", period, cid)
            return []
        return [(KEY_SEP.join((period, key)), params)
                for key, params in contract_items(stored[cid], period, data)]
    # each contract-period's reads (approvals) are a few small GETs: on S3, round
    # trips, so they are looked at side by side; the first error in order wins
    jobs = [(period, cid) for period in spec.periods for cid in sorted(stored)]
    items = [item for per_contract in map_io(contract_plan, jobs) for item in per_contract]
    return group_partitions(items, ctx.partition_size)


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    out = {}
    for item in partition.params["items"]:
        ctx.check_cancelled()
        p = item["params"]
        stored = load_contract(ctx.store, p["contract_id"], p["contract_cap"], ctx.cache)
        billing = p["period"] == p["billing_period"]
        data = DataVersions.from_dict(p["data"])
        recorder = CompletenessRecorder(stored, p["billing_period"]) if billing else None
        carbon = (CarbonRecorder(ctx.store, ctx.tables, data, p["billing_period"], ctx.cache)
                  if billing and data.carbon else None)
        partial = site_partial(ctx.store, ctx.tables, contract_id=p["contract_id"],
                               contract_cap=p["contract_cap"], site_id=p["site_id"],
                               period=p["period"], data=data, cache=ctx.cache, stored=stored,
                               transform=chain(recorder, carbon))
        doc = {**partial_to_dict(partial), "contract_cap": p["contract_cap"], "data": p["data"],
               "billing_period": p["billing_period"]}
        if billing:
            assert recorder is not None
            key = f"{ctx.part_prefix(partition)}detail-{encode_key(item['key'])}.parquet"
            ctx.stage(key, detail_to_parquet(partial.detail))
            doc["detail"] = key
            doc["completeness"] = recorder.entries[p["site_id"]].to_dict()
        if carbon is not None and p["site_id"] in carbon.entries:
            doc["carbon"] = carbon.entries[p["site_id"]].to_dict()
        out[item["key"]] = doc
    return out


def _draft(ctx: JobContext, contracts: ContractStore, period: str, items: dict[str, dict],
           short: list[Shortfall]) -> InvoiceDraft:
    """Finalize one contract-period from its partitions' results."""
    pinned = {(canonical_json(d["data"]), int(d["contract_cap"])) for d in items.values()}
    if len(pinned) != 1:          # impossible with pins; a bill never mixes snapshots
        raise JobError(f"settlement {period}: the items of one contract disagree on their pinned "
                       f"inputs {sorted(pinned)}")
    first = items[min(items)]
    stored: list[StoredContract] = contracts.versions(first["contract_id"],
                                                      up_to=int(first["contract_cap"]))
    result, detail_parquet = finalize_items(ctx.store, stored, period, items)
    esg = contract_annex([d.get("carbon") for d in items.values() if d["period"] == period])
    return InvoiceDraft(result, stored, DataVersions.from_dict(first["data"]), detail_parquet,
                        extra={"esg": esg} if esg else None,
                        completeness=invoice_block(short) if short else None)


def _gate(spec: SettlementSpec, ctx: JobContext,
          groups: dict[tuple[str, str], dict[str, dict]]) -> dict[tuple[str, str], list[Shortfall]]:
    """The completeness gate over every contract-period: their shortfalls; raises
    ``DataMissingError`` listing all of them unless the spec allows publishing them."""
    short = {}
    for (period, cid), items in sorted(groups.items()):
        entries = [SiteMonthCompleteness.from_dict(d["completeness"]) for d in items.values()
                   if d.get("completeness") is not None]
        short[(period, cid)] = shortfalls(cid, entries)
    found = [s for (period, cid) in sorted(short) for s in short[(period, cid)]]
    if found and not spec.allow_incomplete:
        key = f"runs/{ctx.job_id}/completeness.json"
        ctx.store.put(key, canonical_json({"shortfalls": [s.to_dict() for s in found]}, newline=True))
        raise DataMissingError(f"{describe(found)}\n(the list is also in {key})")
    if found:
        logger.warning("settlement: publishing %d contract-period(s) beyond their completeness "
                       "limits as estimated (allow_incomplete)",
                       len({(s.period, s.contract_id) for s in found}))
    return short


def reduce(spec: SettlementSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    """The gate (:func:`_gate`), then each period's invoices, ``PUBLISH_BATCH``
    contracts at a time in contract order: finalize each (:func:`_draft`,
    ``REDUCE_THREADS`` at a time), then publish the batch
    (:func:`jobs.invoicing.publish_invoices`). Contracts are independent (each
    invoice is its own atomic publish, its version counted per contract-period), so
    the published bytes do not depend on batch or thread counts. A contract that
    fails to finalize fails the job before its batch publishes anything (earlier
    batches stay published; a rerun finds them unchanged)."""
    groups: dict[tuple[str, str], dict[str, dict]] = {}
    for pkey in sorted(results):
        for ikey, doc in sorted(results[pkey].items()):
            groups.setdefault((doc["billing_period"], doc["contract_id"]), {})[ikey] = doc
    short = _gate(spec, ctx, groups)
    pins = load_pins(ctx.store, ctx.job_id, spec)
    invoices = InvoiceStore(ctx.store)
    contracts = ContractStore(ctx.store)
    out = []
    for period in spec.periods:
        active = sorted(cid for p, cid in groups if p == period)
        published: dict[str, PublishedInvoice] = {}
        for b in range(0, len(active), PUBLISH_BATCH):
            batch = active[b:b + PUBLISH_BATCH]
            drafts = map_io(lambda cid, period=period: _draft(ctx, contracts, period,
                                                              groups[(period, cid)],
                                                              short[(period, cid)]),
                            batch, threads=REDUCE_THREADS)
            published.update(zip(batch, publish_invoices(ctx.store, drafts, run_id=ctx.job_id)))

        def approved(cid: str, period: str = period) -> dict | None:   # not settled: inactive or approved
            version = invoices.latest_approved(cid, period)
            return None if version is None else invoices.get(cid, period, version)[0]
        order = sorted(set(pins["contracts"]) | set(active))
        rest = [cid for cid in order if cid not in published]
        found = dict(zip(rest, map_io(approved, rest)))
        for cid in order:
            if cid in published:
                p = published[cid]
                out.append(_summary(p.document, "published" if p.created else "unchanged"))
            elif found[cid] is not None:
                out.append(_summary(found[cid], "approved"))
    return {"period": spec.period, "periods": spec.periods, "invoices": out,
            "data_versions": pins["data"], "contract_version_caps": pins["contracts"],
            "pins": pins_key(ctx.job_id, spec)}


def _summary(doc: dict, outcome: str) -> dict:
    return {"contract_id": doc["contract_id"], "period": doc["period"], "version": doc["version"],
            "total_usd": doc["total_usd"], "status": doc.get("status"), "outcome": outcome}


KIND = JobKind(
    name="settlement", spec_type=SettlementSpec, plan=plan, run_partition=run_partition,
    reduce=reduce, description="month-end settlement of every contract active in a period "
                               "(or in each period of a backfill)")
