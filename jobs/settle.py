"""``settlement``: month-end settlement of every contract active in a billing period.

Plan (pure apart from inventory reads): for each contract active in the period and
not already approved, one item per (contract, site, month): the billing month, plus
the earlier months a ``min_delivery`` term needs when this period closes its
guarantee period. Items are keyed ``<contract>|<site>|<month>`` and grouped
``partition_size`` at a time. Every item carries the pinned inputs (data versions
and the contract-version cap) resolved once at planning, so all workers read one
consistent snapshot even while new data lands.

Map (on a warm worker): ``jobs.settle_inputs.site_partial`` per item; the interval
detail is written next to the partition's result, already in the invoice's Parquet
encoding; the result is the partial's exact integer sums (small JSON).

Reduce (in the job runner): per contract, in batches: ``combine`` the partials
(order-free), ``finalize`` (period-level terms, one rounding per line), build the
invoice document and publish it atomically as the next version, unless it is
identical to the latest version (then nothing new is written).
"""
from __future__ import annotations

import dataclasses
import functools
import io
import logging
from importlib import metadata
from typing import Any, Callable, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from engine.contract import active_in_period, version_at_period_end, versions_in_force
from engine.errors import InputError
from engine.invoice import build_invoice, canonical_json, render_html
from engine.settlement import (DETAIL_SCHEMA, SettlementResult, SitePartial, combine, finalize,
                               lookback_periods)
from engine.timebase import local_month_bounds_us
from storage.contracts import ContractStore, StoredContract
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.parallel_io import map_io

from .planning import group_partitions, partition_key
from .settle_inputs import (DataVersions, partial_from_dict, partial_to_dict, require_contract,
                            require_data, site_partial)
from .specs import SettlementSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext, encode_key, register

logger = logging.getLogger(__name__)


@functools.cache
def code_version() -> str:
    try:
        return f"meter2cash {metadata.version('meter2cash')}"
    except metadata.PackageNotFoundError:       # running from a source tree
        return "meter2cash (source)"


def contract_sites(stored: list[StoredContract], period: str) -> list[str]:
    versions = [s.version for s in stored]
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    return sorted({sid for cv, _, _ in versions_in_force(versions, b0, b1) for sid in cv.sites})


def contract_items(stored: list[StoredContract], period: str, data: DataVersions) -> list[tuple[str, dict]]:
    """(key, params) of every site-month one contract's settlement of ``period`` reads."""
    cid = stored[-1].version.contract_id
    cap = stored[-1].version.version
    months = sorted({period, *lookback_periods(stored[-1].version, period)})
    return [(partition_key(cid, site, month),
             {"contract_id": cid, "contract_cap": cap, "site_id": site, "period": month,
              "billing_period": period, "data": data.to_dict()})
            for site in contract_sites(stored, period) for month in months]


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


def _read_detail(store: Any, key: str) -> pa.Table:
    """A partition's detail: Parquet, or Arrow IPC for parts committed by the version
    that wrote IPC (a job resumed across an upgrade)."""
    raw = store.get(key)
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(raw))
    return pa.ipc.open_file(pa.BufferReader(raw)).read_all()


def finalize_contract(store: Any, stored: list[StoredContract], period: str,
                      items: dict[str, dict]) -> tuple[SettlementResult, bytes]:
    """Combine one contract's partial results (``item key -> partial dict``) and
    finalize: (the result without its interval detail, that detail as the invoice's
    Parquet bytes).

    The map writes each billing site-month's detail in the invoice's encoding
    (:func:`storage.invoices.detail_to_parquet`, on the workers, in parallel), so a
    contract billed from one site-month publishes those bytes as they are: nothing
    decoded or encoded here. Several are read, combined (sorted) and encoded."""
    billing = [d["detail"] for d in items.values() if d["period"] == period and d.get("detail")]
    if len(billing) == 1 and billing[0].endswith(".parquet"):
        result = finalize_partials(stored, period,
                                   {k: partial_from_dict(d) for k, d in items.items()})
        return result, store.get(billing[0])
    partials = {}
    for key, d in items.items():
        detail = _read_detail(store, d["detail"]) if d["period"] == period and d.get("detail") else None
        partials[key] = partial_from_dict(d, detail)
    result = finalize_partials(stored, period, partials)
    return (dataclasses.replace(result, detail=DETAIL_SCHEMA.empty_table()),
            detail_to_parquet(result.detail))


def finalize_partials(stored: list[StoredContract], period: str,
                      partials: dict[str, SitePartial]) -> SettlementResult:
    """The reduce of one contract-period over its site-month partials (``item key ->
    partial``, as planned by :func:`contract_items`): the billing month's partials are
    combined, earlier months only feed ``min_delivery`` lookback (delivered Wh)."""
    billing, lookback = [], {}
    for key in sorted(partials):
        p = partials[key]
        if p.period == period:
            billing.append(p)
        else:
            lookback[p.period] = lookback.get(p.period, 0) + int(p.delivered_wh)
    versions = [s.version for s in stored]
    return finalize(versions, period, combine(billing), lookback=lookback or None)


def contract_partials(store: Any, tables: Any, stored: list[StoredContract], period: str,
                      data: DataVersions, *, cache: dict) -> dict[str, SitePartial]:
    """The map of one contract-period in this process: a partial per item of
    :func:`contract_items` (``item key -> partial``), as of ``data`` and ``stored``."""
    cid = stored[-1].version.contract_id
    cap = stored[-1].version.version
    return {key: site_partial(store, tables, contract_id=cid, contract_cap=cap, site_id=p["site_id"],
                              period=p["period"], data=data, cache=cache)
            for key, p in contract_items(stored, period, data)}


def without_detail(partials: dict[str, SitePartial]) -> dict[str, SitePartial]:
    """The same partials with empty interval detail: finalizing them gives the same
    lines and totals, without concatenating and sorting the detail (for callers that
    only compare amounts)."""
    empty = DETAIL_SCHEMA.empty_table()
    return {k: dataclasses.replace(p, detail=empty) for k, p in partials.items()}


def settle_contract_period(store: Any, tables: Any, stored: list[StoredContract], period: str,
                           data: DataVersions, *, cache: dict, detail: bool = True) -> SettlementResult:
    """One contract's settlement of ``period`` in this process, as of ``data`` and the
    contract versions ``stored`` (:func:`contract_partials`, then
    :func:`finalize_partials`): the same result the ``settlement`` job's distributed
    map and reduce give for the same pinned inputs. ``detail=False`` leaves the
    result's interval detail empty (cheaper; lines and totals are the same). Used by
    rebills and reproduction."""
    partials = contract_partials(store, tables, stored, period, data, cache=cache)
    return finalize_partials(stored, period, partials if detail else without_detail(partials))


def contract_at_period_end(stored: list[StoredContract], period: str) -> StoredContract:
    cv = version_at_period_end([s.version for s in stored], period)
    return next(s for s in stored if s.version.version == cv.version)


def invoice_document(result: SettlementResult, stored: list[StoredContract], *, version: int,
                     run_id: str, data: DataVersions, adjusts: int | None = None,
                     extra: dict | None = None) -> dict:
    at_end = contract_at_period_end(stored, result.period)
    lineage = {"run_id": run_id, "data_versions": data.to_dict(), "code_version": code_version(),
               "contract_version_cap": stored[-1].version.version}
    doc = build_invoice(result, contract=at_end.version, contract_sha256=at_end.sha256,
                        version=version, status="draft", lineage=lineage, adjusts=adjusts)
    if extra:
        doc.update(extra)
    return doc


def _same_invoice(a: dict, b: dict) -> bool:
    """Equal apart from the run that produced them."""
    def strip(d: dict) -> dict:
        return {**d, "version": 0, "status": None, "approval": None,
                "lineage": {**d.get("lineage", {}), "run_id": None}}
    return strip(a) == strip(b)


@dataclasses.dataclass(frozen=True)
class InvoiceDraft:
    """A settlement result to publish as its contract-period's next invoice version."""
    result: SettlementResult
    stored: list[StoredContract]
    data: DataVersions
    #: the interval detail already encoded (``detail_to_parquet``), if the caller has
    #: it; ``result.detail`` is then not read
    detail_parquet: bytes | None = None
    adjusts: int | None = None
    extra: dict | None = None

    def document(self, version: int, run_id: str) -> dict:
        return invoice_document(self.result, self.stored, version=version, run_id=run_id,
                                data=self.data, adjusts=self.adjusts, extra=self.extra)


class PublishedInvoice(NamedTuple):
    version: int
    created: bool          # False: the latest version already held the same invoice
    document: dict         # the invoice as stored (for ``created``) or as found


def publish_invoices(store: Any, drafts: list[InvoiceDraft], *, run_id: str
                     ) -> list[PublishedInvoice]:
    """Publish each draft (distinct contract-periods) as the next invoice version, all
    in one batch (``InvoiceStore.publish_many``). Nothing is written for a draft whose
    latest version already holds the same invoice."""
    invoices = InvoiceStore(store)

    def latest(d: InvoiceDraft) -> tuple[int, dict] | None:
        existing = invoices.versions(d.result.contract_id, d.result.period)
        return ((existing[-1], invoices.get(d.result.contract_id, d.result.period,
                                            existing[-1])[0]) if existing else None)
    out: dict[int, PublishedInvoice] = {}
    todo = []
    for i, (d, f) in enumerate(zip(drafts, map_io(latest, drafts))):
        if f is not None and _same_invoice(d.document(f[0], run_id), f[1]):
            out[i] = PublishedInvoice(f[0], False, f[1])
        else:
            todo.append(i)
    built: dict[int, dict] = {}            # draft -> its document as last built (= published)

    def parts_of(i: int) -> Callable[[int], InvoiceParts]:
        d = drafts[i]
        detail = (d.detail_parquet if d.detail_parquet is not None
                  else detail_to_parquet(d.result.detail))

        def parts(version: int) -> InvoiceParts:
            doc = built[i] = d.document(version, run_id)
            return InvoiceParts(canonical_json(doc), render_html(doc), detail)
        return parts
    versions = invoices.publish_many([(drafts[i].result.contract_id, drafts[i].result.period,
                                       parts_of(i)) for i in todo])
    out.update((i, PublishedInvoice(v, True, built[i])) for i, v in zip(todo, versions))
    return [out[i] for i in range(len(drafts))]


def publish_invoice(store: Any, result: SettlementResult, stored: list[StoredContract], *,
                    run_id: str, data: DataVersions, adjusts: int | None = None,
                    extra: dict | None = None,
                    detail_parquet: bytes | None = None) -> tuple[int, bool]:
    """:func:`publish_invoices` of one result; (version, created)."""
    draft = InvoiceDraft(result, stored, data, detail_parquet, adjusts, extra)
    version, created, _ = publish_invoices(store, [draft], run_id=run_id)[0]
    return version, created


#: contracts finalized concurrently. Finalizing waits on the store (reading the
#: partitions' detail) and, for a contract over several site-months, on Arrow
#: (combining and encoding their detail), without the GIL.
REDUCE_THREADS = 4
#: contracts published together (``publish_invoices``): three rounds of fsync-ed
#: writes (locally; round trips on S3) per batch instead of three per invoice.
#: Bounds the detail bytes held at once.
PUBLISH_BATCH = 32


def _draft(store: Any, contracts: ContractStore, period: str, items: dict[str, dict]) -> InvoiceDraft:
    """Finalize one contract from its partitions' results."""
    first = items[min(items)]
    stored = contracts.versions(first["contract_id"], up_to=int(first["contract_cap"]))
    result, detail_parquet = finalize_contract(store, stored, period, items)
    return InvoiceDraft(result, stored, DataVersions.from_dict(first["data"]), detail_parquet)


def reduce(spec: SettlementSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    """The contracts' invoices, ``PUBLISH_BATCH`` contracts at a time in contract
    order: finalize each (:func:`_draft`, ``REDUCE_THREADS`` at a time), then publish
    the batch (:func:`publish_invoices`). Contracts are independent (each invoice is
    its own atomic publish, its version counted per contract), so the published bytes
    do not depend on batch or thread counts. A contract that fails to finalize fails
    the job before its batch publishes anything (earlier batches stay published; a
    rerun finds them unchanged)."""
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
        drafts = map_io(lambda cid: _draft(ctx.store, contracts, spec.period, by_contract[cid]),
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
            "total_usd": doc["total_usd"], "status": doc.get("status"), "outcome": outcome,
            "uri": f"/v1/invoices/{doc['contract_id']}/{doc['period']}?version={doc['version']}"}


KIND = register(JobKind(
    name="settlement", spec_type=SettlementSpec, plan=plan, run_partition=run_partition,
    reduce=reduce, description="month-end settlement of every contract active in a period"))
