"""``settlement``: month-end settlement of every contract active in a billing period.

Plan (pure apart from inventory reads): for each contract active in the period and
not already approved, one item per (contract, site, month): the billing month, plus
the earlier months a ``min_delivery`` term needs when this period closes its
guarantee period (``jobs.contract_period.contract_items``). Items are keyed ``<contract>|<site>|<month>`` and grouped
``partition_size`` at a time. Every item carries the pinned inputs (data versions
and the contract-version cap) resolved once at planning, so all workers read one
consistent snapshot even while new data lands.

Map (on a warm worker): ``jobs.settle_inputs.site_partial`` per item; the interval
detail is written next to the partition's result, already in the invoice's Parquet
encoding; the result is the partial's exact integer sums (small JSON).

Reduce (in the job runner): per contract, in batches: finalize its items
(``jobs.contract_period.finalize_items``: combine the partials, order-free, then the
period-level terms, one rounding per line), build the invoice document and publish it
atomically as the next version (``jobs.invoicing``), unless it is identical to the
latest version (then nothing new is written).
"""
from __future__ import annotations

import logging

from engine.contract import active_in_period
from engine.errors import InputError
from storage.contracts import ContractStore
from storage.invoices import InvoiceStore, detail_to_parquet
from storage.parallel_io import map_io

from .contract_period import contract_items, finalize_items
from .invoicing import PUBLISH_BATCH, InvoiceDraft, PublishedInvoice, publish_invoices
from .planning import group_partitions
from .settle_inputs import (DataVersions, partial_to_dict, require_contract, require_data,
                            site_partial)
from .specs import SettlementSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext, encode_key

logger = logging.getLogger(__name__)

__all__ = ["plan", "run_partition", "reduce", "KIND", "REDUCE_THREADS"]

#: contracts finalized concurrently. Finalizing waits on the store (reading the
#: partitions' detail) and, for a contract over several site-months, on Arrow
#: (combining and encoding their detail), without the GIL.
REDUCE_THREADS = 4


def plan(spec: SettlementSpec, ctx: JobContext) -> list[Partition]:
    data = DataVersions.resolve(ctx.tables, ctx.store, spec.as_of)
    require_data(data)
    ids = spec.contracts or ContractStore(ctx.store).contract_ids()
    invoices = InvoiceStore(ctx.store)

    def contract_plan(cid: str) -> list[tuple[str, dict]]:
        stored = require_contract(ctx.store, cid)
        if not active_in_period([s.version for s in stored], spec.period):
            if spec.contracts:
                cv = stored[-1].version
                raise InputError(f"contract {cid} is not active in {spec.period} "
                                 f"(term {cv.term_start} to {cv.term_end})")
            return []
        if invoices.latest_approved(cid, spec.period) is not None:
            logger.info("settlement %s: %s already approved; not settled again", spec.period, cid)
            return []
        return contract_items(stored, spec.period, data)
    # each contract's reads (versions, approvals) are a few small GETs: on S3, round
    # trips, so contracts are looked at side by side; the first error in id order wins
    items = [item for per_contract in map_io(contract_plan, ids) for item in per_contract]
    return group_partitions(items, ctx.partition_size)


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    out = {}
    for item in partition.params["items"]:
        ctx.check_cancelled()
        p = item["params"]
        partial = site_partial(ctx.store, ctx.tables, contract_id=p["contract_id"],
                               contract_cap=p["contract_cap"], site_id=p["site_id"],
                               period=p["period"], data=DataVersions.from_dict(p["data"]),
                               cache=ctx.cache)
        doc = {**partial_to_dict(partial), "contract_cap": p["contract_cap"], "data": p["data"]}
        if p["period"] == p["billing_period"]:
            key = f"{ctx.part_prefix(partition)}detail-{encode_key(item['key'])}.parquet"
            ctx.stage(key, detail_to_parquet(partial.detail))
            doc["detail"] = key
        out[item["key"]] = doc
    return out


def _draft(ctx: JobContext, contracts: ContractStore, period: str, items: dict[str, dict]) -> InvoiceDraft:
    """Finalize one contract from its partitions' results."""
    first = items[min(items)]
    stored = contracts.versions(first["contract_id"], up_to=int(first["contract_cap"]))
    result, detail_parquet = finalize_items(ctx.store, stored, period, items)
    return InvoiceDraft(result, stored, DataVersions.from_dict(first["data"]), detail_parquet)


def reduce(spec: SettlementSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    """The contracts' invoices, ``PUBLISH_BATCH`` contracts at a time in contract
    order: finalize each (:func:`_draft`, ``REDUCE_THREADS`` at a time), then publish
    the batch (:func:`jobs.invoicing.publish_invoices`). Contracts are independent
    (each invoice is its own atomic publish, its version counted per contract), so the
    published bytes do not depend on batch or thread counts. A contract that fails to
    finalize fails the job before its batch publishes anything (earlier batches stay
    published; a rerun finds them unchanged)."""
    by_contract: dict[str, dict[str, dict]] = {}
    for pkey in sorted(results):
        for ikey, doc in sorted(results[pkey].items()):
            by_contract.setdefault(doc["contract_id"], {})[ikey] = doc
    invoices = InvoiceStore(ctx.store)
    contracts = ContractStore(ctx.store)
    order = sorted(set(spec.contracts or contracts.contract_ids()) | set(by_contract))
    active = sorted(by_contract)
    published: dict[str, PublishedInvoice] = {}
    data_versions = None
    for b in range(0, len(active), PUBLISH_BATCH):
        batch = active[b:b + PUBLISH_BATCH]
        drafts = map_io(lambda cid: _draft(ctx, contracts, spec.period, by_contract[cid]),
                        batch, threads=REDUCE_THREADS)
        published.update(zip(batch, publish_invoices(ctx.store, drafts, run_id=ctx.job_id)))
        data_versions = drafts[-1].data.to_dict()

    def approved(cid: str) -> dict | None:            # not settled: inactive, or approved
        version = invoices.latest_approved(cid, spec.period)
        return None if version is None else invoices.get(cid, spec.period, version)[0]
    rest = [cid for cid in order if cid not in published]
    found = dict(zip(rest, map_io(approved, rest)))
    out = []
    for cid in order:
        if cid in published:
            p = published[cid]
            out.append(_summary(p.document, "published" if p.created else "unchanged"))
        elif found[cid] is not None:
            out.append(_summary(found[cid], "approved"))
    return {"period": spec.period, "invoices": out, "data_versions": data_versions}


def _summary(doc: dict, outcome: str) -> dict:
    return {"contract_id": doc["contract_id"], "period": doc["period"], "version": doc["version"],
            "total_usd": doc["total_usd"], "status": doc.get("status"), "outcome": outcome}


KIND = JobKind(
    name="settlement", spec_type=SettlementSpec, plan=plan, run_partition=run_partition,
    reduce=reduce, description="month-end settlement of every contract active in a period")
