"""``rebill``: re-settle a range of past periods of one contract; bill only the difference.

Plan (job runner). Refuses, as ``InputError`` before any work: an unknown contract,
an ``as_of`` that designates no data version, a period outside the contract term,
and a period with no approved invoice (a period never billed has nothing to
adjust; settle and approve it first). Pins ONE set of inputs for the whole job --
the data versions (``DataVersions``, resolved once from ``as_of``) and the contract
version cap (the latest version then) -- when its first attempt plans, in
``runs/<job_id>/pins-<spec>.json`` (``jobs.settle_inputs.pin_inputs``); a resumed
attempt plans from them, so every period sees the same snapshot even while new
data lands or the job is resumed; the result states them. One partition per period
(``<contract>|<period>``): all the contract's sites for that month, settled in one
worker whose cache keeps the contract, registry and market series warm.

Map (worker), per period:

1. re-settle with the pinned data and the contract versions now in force
   (``jobs.contract_period.settle_contract_period``: the settlement job's own map +
   reduce);
2. compare, charge by charge, with the latest approved invoice
   (``engine.rebill.diff_invoice``). Unchanged (no quantity or amount differs):
   nothing more, and nothing is published for it;
3. changed: attribute the delta (``engine.rebill.attribute``) by re-settling along
   the chain billed -> +meter data -> +prices/indices -> +contract amendments, "billed"
   meaning the data versions and contract-version cap recorded in the approved
   invoice's lineage (Delta time travel and ``ContractStore.versions(up_to=cap)``).
   A step whose inputs did not change reuses the previous state instead of settling
   again, so only changed periods pay for the extra settlements. The re-settled
   result's interval detail is written under the partition's prefix.

Completeness. The map counts the re-settled period's meter data
(``jobs.settle_inputs.CompletenessRecorder``); a changed period beyond its
completeness limits fails the job listing every such period, site and channel,
unless the spec says ``allow_incomplete``: then its adjustment is published with
status ``estimated`` (``engine.completeness``), like a settlement's.

Carbon. With carbon tracing pinned (``DataVersions.carbon``: the default), the map
re-traces the period's carbon from the same reads (``jobs.carbon.CarbonRecorder``) and a
period whose ESG annex differs from the approved invoice's (new meter data, new grid
factors, certificates cancelled since) is changed even when no amount is: its
adjustment re-issues the annex with ``adjustment.esg_delta`` (per figure, now - billed)
and a money delta of 0.

Reduce (job runner), periods in order: each changed period is published as the next
invoice version with ``adjusts`` = the approved version it replaces and an
``adjustment`` block (reason, delta lines per charge, attribution); republishing an
identical adjustment writes nothing. If another version of a changed period was
approved meanwhile, the rebill fails (``ConflictError``) rather than adjust a bill
that is no longer the latest approved one. The job result is the adjustment summary
(net amount to bill, split by cause) and the per-period breakdown.

Amounts are integer cents throughout (``engine.rebill``); the result renders them as
decimal strings with two places.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from engine.canonical import canonical_json
from engine.carbon.statement import annex_delta
from engine.completeness import Shortfall, SiteMonthCompleteness, describe, invoice_block, shortfalls
from engine.contract import active_in_period
from engine.errors import ConflictError, DataMissingError, InputError, JobError
from engine.invoice import invoice_bytes
from engine.money import cents_to_str
from engine.rebill import (CAUSES, Attribution, PeriodOutcome, attribute, charges_of_invoice,
                           charges_of_result, diff_invoice, summarize)
from engine.settlement import DETAIL_SCHEMA, Line, SettlementResult
from engine.timebase import parse_period, periods_between
from storage.contracts import ContractStore, StoredContract
from storage.invoices import InvoiceStore, detail_to_parquet

from .planning import partition_key
from .contract_period import (contract_partials, contract_sites, finalize_partials,
                              settle_contract_period, without_detail)
from .carbon import CarbonRecorder, contract_annex
from .invoicing import PUBLISH_BATCH, InvoiceDraft, invoice_document, publish_invoices
from .settle_inputs import (CompletenessRecorder, DataVersions, chain, load_contract, pin_inputs,
                            require_contract, require_data)
from .specs import RebillSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

__all__ = ["resolve_data_versions", "plan", "run_partition", "reduce", "reproduce_invoice",
           "billed_inputs", "result_to_dict", "result_from_dict", "KIND"]


# ------------------------------------------------------------------------------ inputs
def _commit_times(tables: Tables, table: str) -> list[tuple[int, datetime]]:
    return [(h["version"], datetime.fromisoformat(h["timestamp"].replace("Z", "+00:00")))
            for h in tables.history(table)]


def _version_at(tables: Tables, table: str, at: datetime) -> int | None:
    """The latest version of ``table`` committed at or before ``at`` (None: none yet)."""
    versions = [v for v, ts in _commit_times(tables, table) if ts <= at]
    return max(versions) if versions else None


def resolve_data_versions(tables: Tables, store: ObjectStore, as_of: int | str | None) -> DataVersions:
    """The one set of data versions a rebill reads, from the spec's ``as_of``:

    * ``None``: the current version of every table;
    * an ``int``: that **meter** data version (what ``m2c ingest meter`` prints), with
      prices and indices as they stood when it was committed;
    * an ISO 8601 instant: every table as it stood at that instant.

    The site registry is always its latest version (it is not time-stamped), and so is
    the certificate registry; the grid factors follow the instant like prices. An
    as-of that designates no data -- a version that does not exist, an instant
    before the first meter commit -- is an ``InputError``.
    """
    if as_of is None:
        return DataVersions.resolve(tables, store, carbon=True)
    if isinstance(as_of, bool):
        raise InputError(f"as_of must be a meter data version or an ISO 8601 instant, got {as_of!r}")
    if isinstance(as_of, int):
        meter = tables.resolve_as_of("meter", as_of)      # InputError if it does not exist
        at = dict(_commit_times(tables, "meter"))[meter]
    else:
        try:
            at = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"as_of {as_of!r} is neither a data version nor an ISO 8601 "
                             f"instant") from None
        if at.tzinfo is None:
            raise InputError(f"as_of instant {as_of!r} needs an offset (Z or +hh:mm)")
        meter = _version_at(tables, "meter", at)
        if meter is None:
            raise InputError(f"no meter data was stored at or before {as_of}")
    current = DataVersions.resolve(tables, store, carbon=True)
    return DataVersions(meter, _version_at(tables, "prices", at), _version_at(tables, "index", at),
                        current.sites, _version_at(tables, "grid_factors", at), current.certificates,
                        carbon=True)


def billed_inputs(doc: dict, now: DataVersions) -> tuple[DataVersions, int]:
    """The data versions and contract-version cap an invoice was settled with (its
    lineage). A table the lineage does not record is taken as ``now`` (nothing can be
    attributed to an input that was not recorded). Carbon inputs are taken only if recorded:
    an invoice published without carbon tracing reproduces without it."""
    lin = doc.get("lineage") or {}
    recorded = lin.get("data_versions") or {}
    carbon = "grid_factors" in recorded          # carbon traced iff its inputs were pinned
    data = DataVersions(*(recorded[t] if t in recorded else getattr(now, t)
                          for t in ("meter", "prices", "index", "sites")),
                        recorded.get("grid_factors"), recorded.get("certificates"), carbon=carbon)
    cap = lin.get("contract_version_cap")
    if cap is None:
        cap = max(doc.get("contract_versions") or [doc["contract_version"]])
    return data, int(cap)


def _ranges(periods: list[str]) -> str:
    """``['2026-01', '2026-02', '2026-03', '2026-06']`` -> ``2026-01..2026-03, 2026-06``."""
    runs: list[list[str]] = []
    for p in sorted(periods, key=parse_period):
        if runs and periods_between(runs[-1][-1], p)[1:] == [p]:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)


def _approved_versions(invoices: InvoiceStore, contract_id: str, periods: list[str]) -> dict[str, int | None]:
    """Latest approved version per period, from one listing of the contract's invoices."""
    by_period: dict[str, list[int]] = {}
    for _, period, v in invoices.list(contract_id=contract_id):
        by_period.setdefault(period, []).append(v)
    out: dict[str, int | None] = {}
    for p in periods:
        out[p] = next((v for v in sorted(by_period.get(p, []), reverse=True)
                       if invoices.approval(contract_id, p, v) is not None), None)
    return out


# -------------------------------------------------------------------------------- plan
def plan(spec: RebillSpec, ctx: JobContext) -> list[Partition]:
    cid = spec.contract

    def resolve() -> dict:
        cap = require_contract(ctx.store, cid)[-1].version.version
        data = resolve_data_versions(ctx.tables, ctx.store, spec.as_of)
        require_data(data)
        return {"data": data.to_dict(), "contract_cap": cap}
    pins = pin_inputs(ctx.store, ctx.job_id, spec, resolve)
    data, cap = DataVersions.from_dict(pins["data"]), int(pins["contract_cap"])
    stored = ContractStore(ctx.store).versions(cid, up_to=cap)
    periods = periods_between(spec.from_period, spec.to_period)
    versions = [s.version for s in stored]
    outside = [p for p in periods if not active_in_period(versions, p)]
    if outside:
        cv = versions[-1]
        raise InputError(f"contract {cid}: {_ranges(outside)} outside the contract term "
                         f"({cv.term_start} to {cv.term_end})")
    approved = _approved_versions(InvoiceStore(ctx.store), cid, periods)
    never = [p for p, v in approved.items() if v is None]
    if never:
        raise InputError(f"contract {cid}: no approved invoice for {_ranges(never)}; a period "
                         f"never billed cannot be rebilled (settle and approve it first)")
    logger.info("rebill %s %s..%s: %d periods, data %s, contract versions <= %d", cid,
                spec.from_period, spec.to_period, len(periods), data.to_dict(), cap)
    return [Partition(key=partition_key(cid, p),
                      params={"contract_id": cid, "period": p, "contract_cap": cap,
                              "billed_version": approved[p], "data": data.to_dict()},
                      weight=max(1, len(contract_sites(stored, p))))
            for p in periods]


# --------------------------------------------------------------------------------- map
def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    p = partition.params
    cid, period, billed_version = p["contract_id"], p["period"], int(p["billed_version"])
    data = DataVersions.from_dict(p["data"])
    stored = load_contract(ctx.store, cid, int(p["contract_cap"]), ctx.cache)
    billed = json.loads(InvoiceStore(ctx.store).raw_json(cid, period, billed_version))
    recorder = CompletenessRecorder(stored, period)
    carbon = CarbonRecorder(ctx.store, ctx.tables, data, period, ctx.cache) if data.carbon else None
    partials = contract_partials(ctx.store, ctx.tables, stored, period, data, cache=ctx.cache,
                                 transform=chain(recorder, carbon))
    result = finalize_partials(stored, period, without_detail(partials))     # amounts only
    diff = diff_invoice(billed, result)
    esg = contract_annex(list(carbon.entries.values())) if carbon is not None else None
    esg_changed = carbon is not None and esg != billed.get("esg")
    out: dict[str, Any] = {"period": period, "billed_version": billed_version,
                           "billed_cents": diff.billed_cents, "total_cents": diff.total_cents,
                           "changed": diff.changed or esg_changed, "money_changed": diff.changed,
                           "data": data.to_dict(), "contract_cap": int(p["contract_cap"])}
    if not out["changed"]:
        return out
    ctx.check_cancelled()
    if diff.changed:
        att = _attribution(ctx, billed, stored, period, data.without_carbon(), result)
    else:                                 # only the carbon statement changed: no money delta
        att = Attribution(0, dict.fromkeys(CAUSES, 0), {})
    assert att.delta_cents == diff.delta_cents
    if esg is not None:
        out.update(esg=esg, esg_delta=annex_delta(billed.get("esg"), esg))
    result = finalize_partials(stored, period, partials)                     # with the detail
    detail_key = f"{ctx.part_prefix(partition)}detail.parquet"
    ctx.stage(detail_key, detail_to_parquet(result.detail))
    out.update(result=result_to_dict(result, detail_key),
               delta_lines=[ln.to_dict() for ln in diff.changed_lines()],
               attribution={"delta_cents": att.delta_cents, "by_cause": att.by_cause,
                            "by_line": att.by_line},
               billed_inputs=_inputs_doc(*billed_inputs(billed, data)),
               completeness=[m.to_dict() for _, m in sorted(recorder.entries.items())])
    return out


def _inputs_doc(data: DataVersions, cap: int) -> dict:
    return {"data_versions": data.to_dict(), "contract_version_cap": cap}


def _attribution(ctx: WorkerContext, billed: dict, stored_now: list[StoredContract], period: str,
                 now: DataVersions, result_now: SettlementResult) -> Attribution:
    """Re-settle along billed -> +meter (and site registry) -> +market -> +contract.

    States are memoised by their inputs, so a step whose inputs did not change since
    billing (e.g. no amendment: the contract step is the market step) costs nothing."""
    old, old_cap = billed_inputs(billed, now)
    old = old.without_carbon()                 # the money reads no carbon input
    cap = stored_now[-1].version.version
    cid = stored_now[-1].version.contract_id
    states = {(now, cap): charges_of_result(result_now)}

    def state(data: DataVersions, contract_cap: int):
        if (data, contract_cap) not in states:
            ctx.check_cancelled()
            stored = load_contract(ctx.store, cid, contract_cap, ctx.cache)
            states[(data, contract_cap)] = charges_of_result(settle_contract_period(
                ctx.store, ctx.tables, stored, period, data, cache=ctx.cache, detail=False))
        return states[(data, contract_cap)]

    meter_step = DataVersions(now.meter, old.prices, old.index, now.sites)
    return attribute(charges_of_invoice(billed),
                     [("method", state(old, old_cap)), ("meter", state(meter_step, old_cap)),
                      ("market", state(now, old_cap)), ("contract", state(now, cap))])


# ------------------------------------------------------------------------------ reduce
def reduce(spec: RebillSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    rows = sorted(results.values(), key=lambda r: parse_period(r["period"]))
    pinned = {(json.dumps(r["data"], sort_keys=True), r["contract_cap"]) for r in rows}
    if len(pinned) != 1:
        raise JobError(f"rebill {spec.contract}: partitions disagree on the pinned inputs {pinned}")
    data, cap = DataVersions.from_dict(rows[0]["data"]), int(rows[0]["contract_cap"])
    stored = ContractStore(ctx.store).versions(spec.contract, up_to=cap)
    short = _gate(spec, ctx, [r for r in rows if r["changed"]])
    invoices = InvoiceStore(ctx.store)
    for r in (r for r in rows if r["changed"]):          # before publishing anything
        approved_now = invoices.latest_approved(spec.contract, r["period"])
        if approved_now != int(r["billed_version"]):
            raise ConflictError(f"invoice {spec.contract} {r['period']}: v{approved_now} was approved "
                                f"while this rebill compared against v{r['billed_version']}; "
                                f"run the rebill again")
    outcomes, periods, changed = [], [], []
    for r in rows:
        bv = int(r["billed_version"])
        row: dict[str, Any] = {"period": r["period"], "billed_version": bv,
                               "billed_usd": cents_to_str(r["billed_cents"]),
                               "rebilled_usd": cents_to_str(r["total_cents"]),
                               "delta_usd": cents_to_str(r["total_cents"] - r["billed_cents"])}
        if not r["changed"]:
            outcomes.append(PeriodOutcome(r["period"], bv, r["billed_cents"], r["total_cents"]))
            periods.append({**row, "outcome": "unchanged", "version": bv})
            continue
        att = _attribution_from_dict(r["attribution"])
        outcomes.append(PeriodOutcome(r["period"], bv, r["billed_cents"], r["total_cents"], att))
        adjustment = {"reason": spec.reason, "replaces_version": bv,
                      "billed_total_usd": row["billed_usd"], "delta_usd": row["delta_usd"],
                      "delta_lines": r["delta_lines"],
                      "attribution_usd": {c: cents_to_str(att.by_cause[c]) for c in CAUSES},
                      "attribution_by_line_usd": att.to_dict()["by_line_usd"],
                      "billed_inputs": r["billed_inputs"]}
        if r.get("esg") is not None:
            adjustment["esg_delta"] = r["esg_delta"]
        periods.append({**row, "outcome": None, "version": None,     # set once published
                        "attribution_usd": adjustment["attribution_usd"],
                        "delta_lines": r["delta_lines"]})
        changed.append((periods[-1], r, adjustment))
    for b in range(0, len(changed), PUBLISH_BATCH):       # the adjustments, a batch at a time
        batch = changed[b:b + PUBLISH_BATCH]
        drafts = [InvoiceDraft(result_from_dict(r["result"], DETAIL_SCHEMA.empty_table()), stored,
                               data, ctx.store.get(r["result"]["detail"]),
                               adjusts=int(r["billed_version"]),
                               extra={"adjustment": adjustment, **({"esg": r["esg"]} if r.get("esg") else {})},
                               completeness=(invoice_block(short[r["period"]])
                                             if short[r["period"]] else None))
                  for _, r, adjustment in batch]
        for (row, _r, _), (version, created, _) in zip(batch, publish_invoices(
                ctx.store, drafts, run_id=ctx.job_id)):
            row.update(outcome="adjusted" if created else "adjustment exists", version=version)
    summary = summarize(outcomes)
    logger.info("rebill %s %s..%s: %d of %d periods changed, net %s", spec.contract,
                spec.from_period, spec.to_period, summary["changed_periods"], summary["periods"],
                summary["net_adjustment_usd"])
    return {"contract_id": spec.contract, "from_period": spec.from_period,
            "to_period": spec.to_period, "reason": spec.reason, "as_of": spec.as_of,
            "data_versions": data.to_dict(), "contract_version_cap": cap, "summary": summary,
            "periods": periods,
            "invoices": [{"contract_id": spec.contract, "period": p["period"], "version": p["version"]}
                         for p in periods if p["outcome"] in ("adjusted", "adjustment exists")]}


def _gate(spec: RebillSpec, ctx: JobContext, changed: list[dict]) -> dict[str, list[Shortfall]]:
    """The completeness gate over every changed period (``jobs.settle``'s rule):
    shortfalls by period; ``DataMissingError`` listing all unless ``allow_incomplete``."""
    short = {r["period"]: shortfalls(spec.contract, [SiteMonthCompleteness.from_dict(m)
                                                     for m in r.get("completeness", [])])
             for r in changed}
    found = [s for p in sorted(short, key=parse_period) for s in short[p]]
    if found and not spec.allow_incomplete:
        key = f"runs/{ctx.job_id}/completeness.json"
        ctx.store.put(key, canonical_json({"shortfalls": [s.to_dict() for s in found]}, newline=True))
        raise DataMissingError(f"{describe(found)}\n(the list is also in {key})")
    return short


def _attribution_from_dict(a: dict) -> Attribution:
    return Attribution(int(a["delta_cents"]), {c: int(a["by_cause"][c]) for c in CAUSES},
                       {k: {c: int(v[c]) for c in CAUSES} for k, v in a["by_line"].items()})


# ---------------------------------------------------------------------- reproduction
def reproduce_invoice(store: ObjectStore, tables: Tables, contract_id: str, period: str, version: int, *,
                      run_id: str | None = None, cache: dict | None = None) -> bytes:
    """Re-settle a stored invoice version as of the inputs its lineage records (data
    versions, contract-version cap) and return the canonical bytes it would have.

    With ``run_id=None`` the original run id is reused, so a reproducible invoice
    gives exactly its stored bytes (``InvoiceStore.raw_json``) however much data and
    how many amendments have landed since. A rebill's ``adjustment`` block is carried
    over as stored (it describes the relation to another version, not a settlement). The
    ESG annex is recomputed only when the lineage pins the carbon inputs: an invoice
    published before carbon tracing reproduces without one, to its exact bytes.
    """
    stored_doc = json.loads(InvoiceStore(store).raw_json(contract_id, period, version))
    data, cap = billed_inputs(stored_doc, DataVersions.resolve(tables, store))
    stored = ContractStore(store).versions(contract_id, up_to=cap)
    cache = {} if cache is None else cache
    recorder = CompletenessRecorder(stored, period)
    carbon = CarbonRecorder(store, tables, data, period, cache) if data.carbon else None
    result = settle_contract_period(store, tables, stored, period, data, cache=cache,
                                    transform=chain(recorder, carbon))
    short = shortfalls(contract_id, recorder.entries.values())
    esg = contract_annex(list(carbon.entries.values())) if carbon is not None else None
    extra = {**({"adjustment": stored_doc["adjustment"]} if "adjustment" in stored_doc else {}),
             **({"esg": esg} if esg else {})} or None
    doc = invoice_document(result, stored, version=version,
                           run_id=stored_doc["lineage"]["run_id"] if run_id is None else run_id,
                           data=data, adjusts=stored_doc.get("adjusts"), extra=extra,
                           completeness=invoice_block(short) if short else None)
    return invoice_bytes(doc)


# ------------------------------------------------------------ result <-> small JSON
def result_to_dict(result: SettlementResult, detail_key: str) -> dict:
    """A settlement result as exact JSON (Fractions as [numerator, denominator],
    Decimals as strings); the interval detail is referenced by its object key."""
    return {"contract_id": result.contract_id, "period": result.period, "timezone": result.timezone,
            "contract_version": result.contract_version,
            "contract_versions": list(result.contract_versions), "site_ids": list(result.site_ids),
            "total_cents": result.total_cents, "delivered_wh": result.delivered_wh,
            "vee": dict(result.vee), "detail": detail_key,
            "lines": [{"line_id": ln.line_id, "charge": ln.charge, "description": ln.description,
                       "quantity": str(ln.quantity), "quantity_unit": ln.quantity_unit,
                       "rate": ln.rate, "rate_unit": ln.rate_unit, "amount_cents": ln.amount_cents,
                       "tou_bucket": ln.tou_bucket, "contract_versions": list(ln.contract_versions),
                       "amount_picousd": [ln.amount_picousd.numerator, ln.amount_picousd.denominator],
                       "intervals": ln.intervals, "determinants": ln.determinants} for ln in result.lines]}


def result_from_dict(d: dict, detail: pa.Table) -> SettlementResult:
    lines = tuple(Line(ln["line_id"], ln["charge"], ln["description"], Decimal(ln["quantity"]),
                       ln["quantity_unit"], ln["rate"], ln["rate_unit"], int(ln["amount_cents"]),
                       ln["tou_bucket"], tuple(ln["contract_versions"]),
                       Fraction(*ln["amount_picousd"]), int(ln["intervals"]), ln.get("determinants"))
                  for ln in d["lines"])
    return SettlementResult(d["contract_id"], d["period"], d["timezone"], int(d["contract_version"]),
                            tuple(d["contract_versions"]), tuple(d["site_ids"]), lines,
                            int(d["total_cents"]), int(d["delivered_wh"]), dict(d["vee"]), detail)


KIND = JobKind(
    name="rebill", spec_type=RebillSpec, plan=plan, run_partition=run_partition, reduce=reduce,
    description="re-settle past periods of a contract; adjustments against approved invoices")
