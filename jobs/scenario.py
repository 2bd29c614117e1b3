"""``scenario``: what-if variants of a base portfolio, re-settled by the engine that bills.

A scenario document (``engine.scenario``) names a base (contracts, a range of billing
months, data versions) and variants of it. Every variant is settled by the contract
engine itself (``engine.settlement``: ``prepare_site`` / ``price_site`` /
``finalize_amounts``, the functions the ``settlement`` job's map and reduce go
through), from inputs read as of pinned versions; nothing is written but the
scenario's own immutable result (``storage.results``, kind ``scenario``): no invoice
is read for writing, none is published.

Submit. The spec carries the document; the spec's validation parses it (schema,
parameters, battery feasibility, the variant limit: 422 / exit 2), and
:func:`check` (the kind's check, called by ``POST /v1/jobs`` and ``m2c scenarios
run``) checks it against what is stored: contracts, terms, sites, channels, indices,
price series, curves (``engine.scenario.references``).

Plan (job runner). Pins ONE set of inputs, once per job (``jobs.settle_inputs.pin_inputs``:
a resumed attempt plans with the same): the data versions (the document's ``as_of``,
else the latest) and each contract's version cap (its latest version).
Splits the base into **components**: contracts linked by the sites they settle (a
site's month is read once per component), and each component's variants into chunks
so that there are about :data:`TARGET_PARTITIONS` partitions and none holds more than
:data:`VARIANTS_PER_PARTITION` variants: progress counts (variant chunk x component)
partitions. The document is written once under the job's run
prefix (partitions reference it by key and SHA-256).

Map (a warm worker), per partition: each site-month of the component is read and
validated once (``jobs.settle_inputs.validated_month``; the market series of every
contract at the site and those the variants need), kept in the worker's cache
(``WorkerContext.cache``, bounded LRU) with the base's prepared site-months
(``prepare_site``: placement, local fields, contract years, delivered energy, every
term that reads no market data). Then, variant by variant (checking for a cancel
between them): its contract versions, market data and channels
(``engine.scenario.apply``), a prepared site-month re-priced when only market data
changed, prepared again when its channels or contract changed, each contract-period
finalized (``finalize_amounts``: the invoice's lines and cents, memoised period-level
lines). The partition's lines (variant x contract x period x line, amount and delta
against the base) are written as Parquet next to its small JSON result. A variant
whose battery LP has no solution, or whose replacement series is missing, fails
alone with its reason; the base never may.

Reduce (job runner): the parts in key order, sorted by (variant, contract, period,
line) into one table; per-variant totals, the summary and the HTML report; published
atomically as ``results/scenario/<job id>/`` with the lineage (data versions, each
contract's versions and SHA-256, the document's SHA-256, the code version, the seed,
the curves). The same document and data versions give the same bytes whatever the
number of workers (partitions do not depend on it; each is deterministic).

Measured choice (``bench/scenarios.py``): a site-month is shared through the worker's
own cache (``WorkerContext.cache``, bounded), not Ray's object store: it is read and
validated once per worker that runs a chunk of its component (partitions of one
component are planned consecutively, so a worker meets its site-months again while
they are cached). Reading, validating and preparing a 5-minute site-month with its
market data costs about 20 ms (2.6 CPU-s for the benchmark's 120 site-months, against
33 CPU-s for its 1,000 variants): a second read on a second worker costs less than
shipping the prepared arrays through the object store to every worker would save.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.canonical import canonical_json
from engine.contract import ContractVersion, active_in_period
from engine.errors import (DataMissingError, InfeasibleError, InputError, JobError, UnknownReferenceError,
                           ValidationError)
from engine.money import cents_to_str
from engine.dispatch import solver_version
from engine.pricing import PriceSeries
from engine.scenario import (MarketContext, References, Scenario, SiteHorizon, SiteMonth, Variant,
                             VariantTotal, check_references, extra_price_keys, parse_scenario, render_report,
                             summary, variant_contracts, variant_market, variant_site)
from engine.scenario.prices import CURVE_ISO, Replace
from engine.settlement import (LineAmount, MarketData, PreparedSite, SitePartial, combine, finalize_amounts,
                               prepare_site, price_site, required_market_data)
from engine.sites import Site
from engine.timebase import US_PER_HOUR, local_month_bounds_us
from storage.contracts import StoredContract
from storage.results import ResultStore

from .contract_period import contract_items
from .invoicing import code_version
from .settle_inputs import (DataVersions, load_contract, load_registry, pin_inputs, require_contract,
                            require_data, validated_month)
from .specs import ScenarioSpec
from .tasks import JobContext, JobKind, Partition, WorkerContext

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

__all__ = ["KIND", "plan", "run_partition", "reduce", "check", "list_results", "result_view",
           "VARIANTS_PER_PARTITION", "LINES_SCHEMA", "VARIANTS_SCHEMA",
           "ENERGY_SCHEMA", "RESULT_KIND", "TARGET_PARTITIONS", "document_key"]

RESULT_KIND = "scenario"
#: a scenario with fewer components than this is split into variant chunks too, so
#: that there are about this many partitions to spread over the workers
TARGET_PARTITIONS = 8
#: at most this many variants per partition: progress (partitions done) and resume
#: advance in steps of a few seconds of work
VARIANTS_PER_PARTITION = 250
#: a worker keeps at most this many read (and as many prepared) site-months
CACHE_ENTRIES = 64

LINES_SCHEMA = pa.schema([
    ("variant_index", pa.int32()), ("variant", pa.string()), ("contract_id", pa.string()),
    ("period", pa.string()), ("line_no", pa.int16()), ("line_id", pa.string()), ("charge", pa.string()),
    ("quantity", pa.string()), ("quantity_unit", pa.string()), ("amount_cents", pa.int64()),
    ("base_amount_cents", pa.int64()), ("delta_cents", pa.int64())])
VARIANTS_SCHEMA = pa.schema([
    ("variant_index", pa.int32()), ("variant", pa.string()), ("status", pa.string()),
    ("reason", pa.string()), ("total_cents", pa.int64()), ("delta_cents", pa.int64())])
ENERGY_SCHEMA = pa.schema([
    ("variant_index", pa.int32()), ("variant", pa.string()), ("site_id", pa.string()), ("period", pa.string()),
    ("channel", pa.string()), ("kind", pa.string()), ("energy_wh", pa.int64()),
    ("base_energy_wh", pa.int64()), ("delta_wh", pa.int64())])


# ------------------------------------------------------------------ small helpers
def document_key(job_id: str) -> str:
    return f"runs/{job_id}/scenario.json"


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=1 << 20)
    return buf.getvalue()


class _Lru:
    """A bounded map kept in the worker's cache (least recently used out first)."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, key, load):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = self.items[key] = load()
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


def _lru(cache: dict, name: str) -> _Lru:
    if name not in cache:
        cache[name] = _Lru(CACHE_ENTRIES)
    return cache[name]


# ------------------------------------------------------------------ the base
@dataclass(frozen=True)
class _Base:
    """The base as of pinned inputs: contracts (stored versions), their periods in
    the range, the registry."""
    data: DataVersions
    stored: dict[str, list[StoredContract]]
    periods: dict[str, list[str]]           # contract -> billing months in the range it is active in
    sites: dict[str, Site]

    @cached_property
    def versions(self) -> dict[str, list[ContractVersion]]:
        """One list per contract, the same objects every time (identity says "base")."""
        return {c: [s.version for s in v] for c, v in self.stored.items()}

    @cached_property
    def docs(self) -> dict[str, list[dict]]:
        return {c: [s.document for s in v] for c, v in self.stored.items()}


def _resolve_base(scenario: Scenario, store: "ObjectStore", tables: "Tables",
                  data: DataVersions | None = None, caps: dict[str, int] | None = None,
                  cache: dict | None = None) -> _Base:
    cache = {} if cache is None else cache
    if data is None:
        data = DataVersions.resolve(tables, store, scenario.base.as_of)
        require_data(data)
    from storage.contracts import ContractStore
    named = scenario.base.contracts
    ids = sorted(caps) if caps is not None else (list(named) if named else ContractStore(store).contract_ids())
    periods = scenario.base.periods
    stored, active = {}, {}
    for i, cid in enumerate(ids):
        try:
            versions = (load_contract(store, cid, caps[cid], cache) if caps is not None
                        else require_contract(store, cid))
        except UnknownReferenceError:
            raise ValidationError(f"unknown contract {cid!r}", file="scenario",
                                  field=f"base.contracts[{i}]") from None
        months = [p for p in periods if active_in_period([s.version for s in versions], p)]
        if not months:
            if named:
                cv = versions[-1].version
                raise ValidationError(f"contract {cid} is not active in {periods[0]}..{periods[-1]} "
                                      f"(term {cv.term_start} to {cv.term_end})", file="scenario",
                                      field=f"base.contracts[{i}]")
            continue
        stored[cid], active[cid] = versions, months
    if not stored:
        raise InputError(f"no contract is active in {periods[0]}..{periods[-1]}")
    return _Base(data, stored, active, load_registry(store, data.sites, cache))


def _references(scenario: Scenario, base: _Base, tables: "Tables") -> References:
    prices: set[tuple[str, str, str]] = set()
    indices: set[str] = set()
    zones: dict[str, set[str]] = {}
    versions = base.versions
    for cid, months in base.periods.items():
        for period in months:
            needs = required_market_data(versions[cid], period, base.sites)
            prices |= set(needs.prices)
            indices |= set(needs.indices)
        for cv in versions[cid]:
            for sid in cv.sites:
                zones.setdefault(sid, set()).add(cv.timezone)
    curves = {t.params.curve for v in scenario.variants for t in v.transforms
              if isinstance(t.params, Replace) and t.params.curve is not None}
    stored_curves = frozenset(c for c in curves if _curve_stored(tables, c, scenario, base.data))
    return References(base.docs, versions, base.sites, frozenset(prices), frozenset(indices),
                      stored_curves, {s: frozenset(z) for s, z in zones.items()})


def _curve_stored(tables: "Tables", name: str, scenario: Scenario, data: DataVersions) -> bool:
    lo, _ = local_month_bounds_us(scenario.base.from_period, "UTC")
    _, hi = local_month_bounds_us(scenario.base.to_period, "UTC")
    t = tables.read_prices(CURVE_ISO, name, "RT", lo - 2 * 24 * US_PER_HOUR, hi + 2 * 24 * US_PER_HOUR,
                           as_of=data.prices)
    return t.num_rows > 0


def check(spec: ScenarioSpec, store: "ObjectStore", *, source: str = "scenario") -> Scenario:
    """Everything the document names exists, as of the latest data (or its ``as_of``):
    raises ``ValidationError`` naming ``source``, the variant and the field. Reads only
    contracts, the registry and the curves' existence."""
    from storage.tables import Tables
    tables = Tables(store)
    scenario = parse_scenario(spec.document, source)
    base = _resolve_base(scenario, store, tables)
    check_references(scenario, _references(scenario, base, tables), source)
    return scenario


# ------------------------------------------------------------------ plan
def _components(base: _Base) -> list[tuple[list[str], list[str]]]:
    """Contracts linked by the sites they settle in the range: (contracts, sites)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for cid, stored in base.stored.items():
        for s in stored:
            for sid in s.version.sites:
                parent[find(f"c:{cid}")] = find(f"s:{sid}")
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for node in sorted(parent):
        root = find(node)
        kind, name = node.split(":", 1)
        groups.setdefault(root, ([], []))[0 if kind == "c" else 1].append(name)
    comps = [(sorted(c), sorted(s)) for c, s in groups.values() if c]
    return sorted(comps)


def plan(spec: ScenarioSpec, ctx: JobContext) -> list[Partition]:
    scenario = parse_scenario(spec.document)

    def resolve() -> dict:                      # bad references raise here: nothing is pinned
        latest = _resolve_base(scenario, ctx.store, ctx.tables)
        check_references(scenario, _references(scenario, latest, ctx.tables))
        return {"data": latest.data.to_dict(),
                "caps": {cid: stored[-1].version.version for cid, stored in sorted(latest.stored.items())}}
    pins = pin_inputs(ctx.store, ctx.job_id, spec, resolve)       # once per job: resumes see the same
    data, caps = DataVersions.from_dict(pins["data"]), {c: int(v) for c, v in pins["caps"].items()}
    base = _resolve_base(scenario, ctx.store, ctx.tables, data=data, caps=caps)
    check_references(scenario, _references(scenario, base, ctx.tables))
    ctx.store.put_if_absent(document_key(ctx.job_id), canonical_json(scenario.document))
    comps = _components(base)
    n = len(scenario.variants)
    chunks = max(1, min(n, max(-(-TARGET_PARTITIONS // len(comps)), -(-n // VARIANTS_PER_PARTITION))))
    size = -(-n // chunks)
    parts = []
    for i, (contracts, sites) in enumerate(comps):
        site_months = sum(len(base.periods[c]) * len(base.versions[c][-1].sites) for c in contracts)
        for a in range(0, n, size):
            b = min(n, a + size)
            parts.append(Partition(
                key=f"c{i:04d}|v{a:06d}-{b - 1:06d}",
                params={"document": document_key(ctx.job_id), "sha256": scenario.sha256,
                        "contracts": {c: caps[c] for c in contracts}, "sites": sites,
                        "variants": [a, b], "data": data.to_dict()},
                weight=max(1, site_months * (b - a))))
    logger.info("scenario %s: %d variants, %d contracts in %d components, %d partitions, data %s",
                scenario.name, n, len(base.stored), len(comps), len(parts), data.to_dict())
    return parts


# ------------------------------------------------------------------ map
@dataclass
class _SiteMonthInputs:
    site: Site
    period: str
    b0: int
    b1: int
    channels: dict[str, Any]
    market: MarketData


def _scenario(ctx: WorkerContext, key: str, sha: str) -> Scenario:
    def load() -> Scenario:
        raw = ctx.store.get(key)
        if hashlib.sha256(raw).hexdigest() != sha:
            raise JobError(f"{key}: the stored scenario document is not the one planned")
        return parse_scenario(json.loads(raw))
    return _lru(ctx.cache, "scenario-docs").get(("doc", sha), load)


def _read_series(tables: "Tables", key: tuple[str, str, str], lo: int, hi: int, data: DataVersions,
                 cache: dict) -> PriceSeries:
    """A price series as ``jobs.settle_inputs.read_market`` reads it (same cache key)."""
    def load():
        t = tables.read_prices(*key, lo, hi, as_of=data.prices)
        return PriceSeries(t.column("interval_start_utc").cast(pa.int64()).to_numpy(),
                           t.column("interval_minutes").to_numpy().astype(np.int64),
                           t.column("lmp_microusd_per_mwh").to_numpy())
    ck = ("prices", key, lo, hi, data.prices)
    if ck not in cache:
        cache[ck] = load()
    return cache[ck]


def _read_site_month(ctx: WorkerContext, base: _Base, site: Site, period: str, tz: str,
                     contracts: list[str], extra: frozenset) -> _SiteMonthInputs:
    """One site-month, read and validated once per worker: VEE'd channels, the market
    series of every contract settling the site and those the variants need."""
    from .settle_inputs import read_market
    b0, b1 = local_month_bounds_us(period, tz)
    key = ("site-month", site.site_id, b0, b1, base.data.meter, base.data.prices, base.data.index,
           base.data.sites, tuple(contracts), extra)

    def load() -> _SiteMonthInputs:
        ctx.cache["scenario-reads"] = ctx.cache.get("scenario-reads", 0) + 1
        vee = validated_month(ctx.tables, site, b0, b1, period, as_of=base.data.meter)
        prices: dict = {}
        indices: dict = {}
        for cid in contracts:
            m = read_market(ctx.tables, base.versions[cid], period, {site.site_id: site}, base.data, ctx.cache)
            prices.update(m.prices)
            indices.update(m.indices)
        for k in sorted(extra):
            if k not in prices:
                prices[k] = _read_series(ctx.tables, k, b0 - US_PER_HOUR, b1, base.data, ctx.cache)
        return _SiteMonthInputs(site, period, b0, b1, dict(vee.channels), MarketData(prices, indices))
    return _lru(ctx.cache, "scenario-inputs").get(key, load)


@dataclass
class _Component:
    """A partition's share of the base, ready for variants."""
    base: _Base
    contracts: list[str]
    items: dict[tuple[str, str], list[tuple[str, str]]]     # (contract, period) -> [(site, month)]
    inputs: dict[tuple[str, str, str], _SiteMonthInputs]    # (contract tz, site, month)
    zone: dict[str, str]                                    # contract -> time zone
    prepared: dict[tuple[str, str, str], PreparedSite]      # (contract, site, month) -> base prepared


def _component(ctx: WorkerContext, scenario: Scenario, params: dict) -> _Component:
    data = DataVersions.from_dict(params["data"])
    caps = {c: int(v) for c, v in params["contracts"].items()}
    base = _resolve_base(scenario, ctx.store, ctx.tables, data=data, caps=caps, cache=ctx.cache)
    contracts = sorted(caps)
    items: dict[tuple[str, str], list[tuple[str, str]]] = {}
    zone = {c: base.versions[c][-1].timezone for c in contracts}
    at_site: dict[str, list[str]] = {}
    for c in contracts:
        for period in base.periods[c]:
            its = [(p["site_id"], p["period"]) for _, p in contract_items(base.stored[c], period, data)]
            items[(c, period)] = its
            for sid, _ in its:
                at_site.setdefault(sid, [])
                if c not in at_site[sid]:
                    at_site[sid].append(c)
    inputs: dict[tuple[str, str, str], _SiteMonthInputs] = {}
    prepared: dict[tuple[str, str, str], PreparedSite] = {}
    extra_cache = _lru(ctx.cache, "scenario-extra")
    for (c, _), its in sorted(items.items()):
        for sid, month in its:
            site = base.sites[sid]
            k = (zone[c], sid, month)
            if k not in inputs:
                cs = sorted(x for x in at_site[sid] if zone[x] == zone[c])
                keys = set()
                for x in cs:
                    keys |= set(required_market_data(base.versions[x], month, {sid: site}).prices)
                extra = extra_cache.get((scenario.sha256, sid, frozenset(keys)),
                                        lambda site=site, keys=keys: frozenset(
                                            extra_price_keys(list(scenario.variants), site, keys)))
                inputs[k] = _read_site_month(ctx, base, site, month, zone[c], cs, extra)
            pk = (c, sid, month)
            if pk not in prepared:
                inp = inputs[k]
                prepared[pk] = _lru(ctx.cache, "scenario-prepared").get(
                    ("prepared", c, caps[c], sid, month, inp.b0, data.meter, data.prices, data.index, data.sites),
                    lambda inp=inp, c=c, month=month: prepare_site(base.versions[c], month, inp.site, inp.channels,
                                                                   inp.market, keep_lines=False))
    return _Component(base, contracts, items, inputs, zone, prepared)


@dataclass
class _Outcome:
    """A variant's settlement over a component: line amounts per contract-period,
    channel energy per site-month (if asked), or why it failed."""
    lines: dict[tuple[str, str], tuple[LineAmount, ...]] | None
    energy: dict[tuple[str, str], dict[str, int]] | None = None
    reason: str | None = None


def _settle_variant(v: Variant, comp: _Component, memo: dict, want_energy: bool) -> _Outcome:
    base = comp.base
    versions = variant_contracts(v, base.docs, base.versions, base.sites, memo.setdefault("contracts", {}),
                                 strict=False)
    # market data per site-month
    markets: dict[tuple[str, str, str], MarketData] = {}
    has_market = bool(v.of("market"))
    for k, inp in comp.inputs.items():
        markets[k] = (variant_market(v, inp.market, MarketContext(inp.period, inp.site.site_id,
                                                                  inp.site.timezone, inp.b0, inp.b1,
                                                                  inp.market.prices))
                      if has_market else inp.market)
    # channels per site-month
    channels: dict[tuple[str, str, str], dict[str, Any]] = {k: inp.channels for k, inp in comp.inputs.items()}
    if v.of("site"):
        by_site: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for k in sorted(comp.inputs, key=lambda k: (k[0], k[1], k[2])):
            by_site.setdefault((k[0], k[1]), []).append(k)
        for (tz, sid), keys in by_site.items():
            site = base.sites[sid]
            at = tuple(versions[c] for c in comp.contracts
                       if comp.zone[c] == tz and any(sid in cv.sites for cv in versions[c]))
            horizon = SiteHorizon(site, tuple(SiteMonth(comp.inputs[k].period, comp.inputs[k].b0,
                                                        comp.inputs[k].b1, channels[k], markets[k])
                                              for k in keys), at)
            out = variant_site(v, horizon)
            for k, m in zip(keys, out.months):
                if m.channels is not channels[k]:
                    channels[k] = dict(m.channels)
    # partials, each (contract, site, month) once
    partials: dict[tuple[str, str, str], SitePartial] = {}
    lines: dict[tuple[str, str], tuple[LineAmount, ...]] = {}
    for (c, period), its in sorted(comp.items.items()):
        for sid, month in its:
            pk = (c, sid, month)
            if pk in partials:
                continue
            k = (comp.zone[c], sid, month)
            inp = comp.inputs[k]
            if versions[c] is base.versions[c] and channels[k] is inp.channels:
                prepared = comp.prepared[pk]
            else:
                prepared = prepare_site(versions[c], month, inp.site, channels[k], markets[k], keep_lines=False)
            partials[pk] = price_site(prepared, markets[k])
        billing = [partials[(c, s, m)] for s, m in its if m == period]
        lookback: dict[str, int] = {}
        for s, m in its:
            if m != period:
                lookback[m] = lookback.get(m, 0) + int(partials[(c, s, m)].delivered_wh)
        finals = memo.setdefault("final", {})
        fm = finals.get(id(versions[c]))
        if fm is None or fm[0] is not versions[c]:
            fm = finals[id(versions[c])] = (versions[c], {})
        combined = billing[0] if len(billing) == 1 else combine(billing)
        lines[(c, period)] = finalize_amounts(versions[c], period, combined, lookback=lookback or None, memo=fm[1])
    energy = None
    if want_energy:
        energy = {}
        for (_tz, sid, month), chans in sorted(channels.items()):
            energy.setdefault((sid, month), {}).update(
                {n: int(np.asarray(s.energy_wh, dtype=np.int64).sum()) for n, s in sorted(chans.items())})
    return _Outcome(lines, energy)


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    p = partition.params
    scenario = _scenario(ctx, p["document"], p["sha256"])
    reads = ctx.cache.get("scenario-reads", 0)
    comp = _component(ctx, scenario, p)
    reads = ctx.cache.get("scenario-reads", 0) - reads
    a, b = p["variants"]
    memo: dict = {}
    base_out = _settle_variant(scenario.variants[0], comp, memo, scenario.site_energy)
    assert base_out.lines is not None
    rows: dict[str, list] = {f.name: [] for f in LINES_SCHEMA}
    energy_rows: dict[str, list] = {f.name: [] for f in ENERGY_SCHEMA}
    statuses = []
    for idx in range(a, b):
        ctx.check_cancelled()
        v = scenario.variants[idx]
        if idx == 0:
            out = base_out
        else:
            try:
                out = _settle_variant(v, comp, memo, scenario.site_energy)
            except (InfeasibleError, DataMissingError, InputError) as exc:
                out = _Outcome(None, reason=f"{type(exc).__name__}: {exc}")
        statuses.append({"index": idx, "variant": v.name, "reason": out.reason})
        if out.lines is None:
            continue
        _line_rows(rows, idx, v.name, out.lines, base_out.lines)
        if out.energy is not None and base_out.energy is not None:
            _energy_rows(energy_rows, idx, v.name, out.energy, base_out.energy, comp.base.sites)
    prefix = ctx.part_prefix(partition)
    result: dict[str, Any] = {"variants": statuses, "lines": f"{prefix}lines.parquet", "data": p["data"],
                              "contracts": p["contracts"]}
    logger.info("scenario partition %s: %d variants over %d site-months (%d read here, %d from this "
                "worker's cache)", partition.key, b - a, len(comp.inputs), reads, len(comp.inputs) - reads)
    ctx.stage(result["lines"], _parquet(pa.table(rows, schema=LINES_SCHEMA)))
    if scenario.site_energy:
        result["energy"] = f"{prefix}energy.parquet"
        ctx.stage(result["energy"], _parquet(pa.table(energy_rows, schema=ENERGY_SCHEMA)))
    return result


def _line_rows(rows: dict[str, list], idx: int, name: str, lines: dict, base: dict) -> None:
    """The variant's lines in invoice order, then the base's lines the variant does
    not have (amount 0), each with the base's amount and the delta."""
    for (c, period), amounts in sorted(lines.items()):
        blines = base.get((c, period), ())
        if len(amounts) == len(blines) and all(x.line_id == y.line_id for x, y in zip(amounts, blines)):
            out = [(ln, ln.amount_cents, str(ln.quantity), b.amount_cents) for ln, b in zip(amounts, blines)]
        else:
            bmap = {b.line_id: b.amount_cents for b in blines}
            mine = {x.line_id for x in amounts}
            out = [(ln, ln.amount_cents, str(ln.quantity), bmap.get(ln.line_id, 0)) for ln in amounts]
            out += [(b, 0, "0", b.amount_cents) for b in blines if b.line_id not in mine]
        for no, (ln, amount, qty, base_amount) in enumerate(out):
            rows["variant_index"].append(idx)
            rows["variant"].append(name)
            rows["contract_id"].append(c)
            rows["period"].append(period)
            rows["line_no"].append(no)
            rows["line_id"].append(ln.line_id)
            rows["charge"].append(ln.charge)
            rows["quantity"].append(qty)
            rows["quantity_unit"].append(ln.quantity_unit)
            rows["amount_cents"].append(amount)
            rows["base_amount_cents"].append(base_amount)
            rows["delta_cents"].append(amount - base_amount)


def _energy_rows(rows: dict[str, list], idx: int, name: str, energy: dict, base: dict,
                 sites: dict[str, Site]) -> None:
    for (sid, month), chans in sorted(energy.items()):
        b = base.get((sid, month), {})
        for ch, wh in sorted(chans.items()):
            rows["variant_index"].append(idx)
            rows["variant"].append(name)
            rows["site_id"].append(sid)
            rows["period"].append(month)
            rows["channel"].append(ch)
            rows["kind"].append(sites[sid].channels[ch].kind if ch in sites[sid].channels else None)
            rows["energy_wh"].append(wh)
            rows["base_energy_wh"].append(b.get(ch, 0))
            rows["delta_wh"].append(wh - b.get(ch, 0))


# ------------------------------------------------------------------ reduce
def _bridge(lines: pa.Table, variant_index: int, top: int = 8) -> list[tuple[str, int]]:
    """The variant's delta against the base by contract and term (the largest
    ``top``, the rest as one)."""
    t = lines.filter(pc.equal(lines.column("variant_index"), variant_index))
    agg: dict[str, int] = {}
    for c, lid, d in zip(t.column("contract_id").to_pylist(), t.column("line_id").to_pylist(),
                         t.column("delta_cents").to_pylist()):
        key = f"{c} {lid.partition('@v')[0].partition(':')[0]}"
        agg[key] = agg.get(key, 0) + int(d)
    items = sorted(((k, d) for k, d in agg.items() if d), key=lambda kd: (-abs(kd[1]), kd[0]))
    if len(items) > top:
        items = items[:top] + [("other", sum(d for _, d in items[top:]))]
    return items


def reduce(spec: ScenarioSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    scenario = parse_scenario(spec.document)
    keys = sorted(results)
    pinned = {canonical_json(results[k]["data"]) for k in keys}
    if len(pinned) != 1:
        raise JobError(f"scenario: partitions disagree on the pinned inputs {sorted(pinned)}")
    tables = [pq.read_table(io.BytesIO(ctx.store.get(results[k]["lines"]))) for k in keys]
    lines = pa.concat_tables(tables) if tables else LINES_SCHEMA.empty_table()
    failed: dict[int, list[str]] = {}
    for k in keys:
        for s in results[k]["variants"]:
            if s["reason"]:
                failed.setdefault(int(s["index"]), []).append(s["reason"])
    if 0 in failed:                                       # the base never fails alone
        raise JobError(f"scenario {scenario.name}: the base failed: {failed[0][0]}")
    if failed:
        keep = pc.invert(pc.is_in(lines.column("variant_index"), pa.array(sorted(failed), pa.int32())))
        lines = lines.filter(keep)
    order = pc.sort_indices(lines, sort_keys=[("variant_index", "ascending"), ("contract_id", "ascending"),
                                              ("period", "ascending"), ("line_no", "ascending")])
    lines = lines.take(order).combine_chunks()
    n = len(scenario.variants)
    vi = lines.column("variant_index").to_numpy()
    amounts = lines.column("amount_cents").to_numpy()
    totals = np.zeros(n, dtype=np.int64)
    np.add.at(totals, vi, amounts)
    periods = scenario.base.periods
    contracts = sorted(set(lines.column("contract_id").to_pylist()))
    p_index = {p: j for j, p in enumerate(periods)}
    c_index = {c: j for j, c in enumerate(contracts)}
    monthly = np.zeros((n, len(periods)), dtype=np.int64)
    by_contract = np.zeros((n, len(contracts)), dtype=np.int64)
    pj = np.array([p_index[p] for p in lines.column("period").to_pylist()], dtype=np.int64)
    cj = np.array([c_index[c] for c in lines.column("contract_id").to_pylist()], dtype=np.int64)
    np.add.at(monthly, (vi, pj), amounts)
    np.add.at(by_contract, (vi, cj), amounts)
    base_total = int(totals[0])
    vt = [VariantTotal(i, v.name, "failed" if i in failed else "ok",
                       "; ".join(failed[i]) if i in failed else None,
                       int(totals[i]) if i not in failed else 0,
                       int(totals[i]) - base_total if i not in failed else 0)
          for i, v in enumerate(scenario.variants)]
    largest = sorted((v for v in vt[1:] if v.status == "ok"), key=lambda v: (-abs(v.delta_cents), v.index))
    bridge = _bridge(lines, largest[0].index) if largest else []
    caps = {c: int(cap) for k in keys for c, cap in results[k]["contracts"].items()}
    stored = {c: load_contract(ctx.store, c, cap, {}) for c, cap in sorted(caps.items())}
    lineage = _lineage(scenario, ctx, stored, results[keys[0]]["data"])
    doc = summary(scenario=scenario.document, variants=vt, periods=periods, monthly=monthly,
                  contracts=contracts, by_contract=by_contract, bridge=bridge, lineage=lineage)
    variants_table = pa.table({
        "variant_index": pa.array([v.index for v in vt], pa.int32()), "variant": [v.name for v in vt],
        "status": [v.status for v in vt], "reason": [v.reason for v in vt],
        "total_cents": pa.array([v.total_cents for v in vt], pa.int64()),
        "delta_cents": pa.array([v.delta_cents for v in vt], pa.int64())}, schema=VARIANTS_SCHEMA)
    parts = {"lines.parquet": _parquet(lines), "variants.parquet": _parquet(variants_table),
             "summary.json": canonical_json(doc, newline=True),
             "report.html": render_report(doc).encode("utf-8"),
             "scenario.json": canonical_json(scenario.document, newline=True)}
    if scenario.site_energy:
        et = [pq.read_table(io.BytesIO(ctx.store.get(results[k]["energy"]))) for k in keys]
        energy = pa.concat_tables(et) if et else ENERGY_SCHEMA.empty_table()
        if failed:
            energy = energy.filter(pc.invert(pc.is_in(energy.column("variant_index"),
                                                      pa.array(sorted(failed), pa.int32()))))
        energy = energy.take(pc.sort_indices(energy, sort_keys=[
            ("variant_index", "ascending"), ("site_id", "ascending"), ("period", "ascending"),
            ("channel", "ascending")])).combine_chunks()
        parts["site_energy.parquet"] = _parquet(energy)
    store = ResultStore(ctx.store, RESULT_KIND)
    created = store.publish(ctx.job_id, parts, {"lineage": lineage, "scenario": scenario.name})
    logger.info("scenario %s: %d variants (%d failed), base %s; result %s %s", scenario.name, n, len(failed),
                cents_to_str(base_total), ctx.job_id, "published" if created else "already published")
    return {"scenario": scenario.name, "result_id": ctx.job_id, "variants": n, "failed": len(failed),
            "base_total_usd": cents_to_str(base_total), "total_usd": doc["total_usd"],
            "largest": doc["largest"][:5], "data_versions": lineage["data_versions"],
            "parts": sorted(parts), "result": store.prefix(ctx.job_id) + "/"}


def _lineage(scenario: Scenario, ctx: JobContext, stored: dict[str, list[StoredContract]],
             data: dict) -> dict:
    curves = sorted({t.params.curve for v in scenario.variants for t in v.transforms
                     if isinstance(t.params, Replace) and t.params.curve is not None})
    return {"scenario_sha256": scenario.sha256, "code_version": code_version(), "seed": scenario.seed,
            "data_versions": data, "curves": curves,
            "solver": solver_version(),
            "contracts": {c: [{"version": s.version.version, "sha256": s.sha256} for s in v]
                          for c, v in sorted(stored.items())}}


# ------------------------------------------------------------------ reading results
def list_results(store: "ObjectStore") -> list[dict]:
    """Every stored scenario result: id, name, variant counts, base total."""
    rs = ResultStore(store, RESULT_KIND)
    out = []
    for rid in rs.ids():
        manifest = rs.manifest(rid)
        doc = json.loads(rs.part(rid, "summary.json", manifest))
        out.append({"result_id": rid, "scenario": doc["scenario"], "variants": doc["variants"],
                    "failed": doc["failed"], "base_total_usd": doc["base_total_usd"],
                    "periods": [doc["periods"][0], doc["periods"][-1]] if doc["periods"] else [],
                    "scenario_sha256": (manifest.get("lineage") or {}).get("scenario_sha256")})
    return out


def result_view(store: "ObjectStore", result_id: str, fmt: str) -> dict | str:
    """A stored result as ``json`` (the summary document, with the manifest's lineage),
    ``csv`` (the result table: variant x contract x period x line) or ``html`` (the
    report); every part verified against the committed manifest."""
    import pyarrow.csv as pa_csv
    rs = ResultStore(store, RESULT_KIND)
    manifest = rs.manifest(result_id)
    if fmt == "html":
        return rs.part(result_id, "report.html", manifest).decode("utf-8")
    if fmt == "csv":
        t = pq.read_table(io.BytesIO(rs.part(result_id, "lines.parquet", manifest)))
        buf = io.BytesIO()
        pa_csv.write_csv(t, buf)
        return buf.getvalue().decode("utf-8")
    if fmt != "json":
        raise InputError(f"format must be json, csv or html; got {fmt!r}")
    doc = json.loads(rs.part(result_id, "summary.json", manifest))
    return {**doc, "result_id": result_id, "parts": sorted(manifest["parts"])}


KIND = JobKind(
    name="scenario", spec_type=ScenarioSpec, plan=plan, run_partition=run_partition, reduce=reduce,
    description="what-if variants of a base portfolio, re-settled by the engine that bills", check=check)

