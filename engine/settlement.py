"""Month-end settlement of one contract: map per site -> combine -> finalize.

Shape (so the cluster can partition by site x month and reduce in any order)::

    partials = [settle_site(versions, period, site, series, market) for each site]
    partial  = combine(partials)          # associative and commutative
    result   = finalize(versions, period, partial, lookback=...)

``settle_site`` (the *map*) runs every interval-level term of every contract
version in force during the local billing month over one site's VEE output and
keeps **exact integer sums** per line (quantity Wh, amount pico-USD, interval
count, min/max rate), additive determinants for period-level terms, the delivered
total, VEE counts and the interval detail (an Arrow table). Nothing is rounded.

``combine`` adds sums and concatenates detail sorted by (site_id, line_id,
interval_start_utc), so any grouping or order of partials gives identical values
and identical bytes.

``finalize`` runs the period-level terms (capacity, min_delivery, take_or_pay
top-up) with the version in force on the period's last day, rounds each line
**once** to cents (``money.picousd_to_cents``, half away from zero) and totals the
rounded lines.

Lines. A line is keyed by ``line_id`` (``<term id>`` or ``<term id>:<part>``) and
contract version; if a period spans two versions, the same line id appears once
per version as ``<line_id>@v<N>``. The invoice lists them in the order of the
terms in the closing version, each term's lines in its kind's order
(``engine.terms.line_rank``), then by version. Amounts follow one sign
convention: > 0 means the buyer owes the seller.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .contract import ContractVersion, version_at_period_end, versions_in_force
from .delivered import QUALITY_LETTERS, SiteIntervals, delivered_wh, resolve_refs, vee_counts
from .errors import DataMissingError, InputError
from .money import picousd_to_cents, sum_exact
from .pricing import IndexSeries, PriceSeries, align_index, align_prices
from .schema import DETAIL_SCHEMA, UTC_TS
from .sites import Site
from .terms import TERM_KINDS, line_rank
from .terms.base import IntervalContext, PeriodContext, frac_str
from .timebase import US_PER_HOUR, local_fields, local_month_bounds_us
from .units import PICO_PER_CENT, WH_PER_MWH

_DETAIL_ORDER = [("site_id", "ascending"), ("line_id", "ascending"), ("interval_start_utc", "ascending"),
                 ("contract_version", "ascending")]
_VEE_KEYS = ("intervals_expected", "actual", "estimated", "missing")


# --------------------------------------------------------------------------- market data
@dataclass(frozen=True)
class MarketData:
    """Market inputs: prices by (iso, node, market_run), indices by name."""
    prices: dict[tuple[str, str, str], PriceSeries] = field(default_factory=dict)
    indices: dict[str, IndexSeries] = field(default_factory=dict)


@dataclass(frozen=True)
class MarketNeeds:
    """What a settlement reads: price series with UTC [start, end) ranges (start
    widened by one hour so an hourly price containing the first interval is
    included) and index series with inclusive local-date ranges."""
    prices: dict[tuple[str, str, str], tuple[int, int]]
    indices: dict[str, tuple[date, date]]


def _merge_range(d: dict, key, lo, hi) -> None:
    if key in d:
        d[key] = (min(d[key][0], lo), max(d[key][1], hi))
    else:
        d[key] = (lo, hi)


def required_market_data(versions: list[ContractVersion], period: str, sites: dict[str, Site]
                         ) -> MarketNeeds:
    if not versions:
        return MarketNeeds({}, {})
    b0, b1 = local_month_bounds_us(period, versions[0].timezone)
    prices: dict = {}
    indices: dict = {}
    for cv, s, e in versions_in_force(versions, b0, b1):
        f = local_fields(np.array([s, e - 1], dtype=np.int64), cv.timezone)
        d0 = date(1970, 1, 1) + timedelta(days=int(f.day[0]))
        d1 = date(1970, 1, 1) + timedelta(days=int(f.day[1]))
        for sid in cv.sites:
            if sid not in sites:
                continue
            for t in cv.terms:
                for need in TERM_KINDS[t.kind].needs(t, cv, sites[sid]):
                    if need[0] == "price":
                        _merge_range(prices, need[1], s - US_PER_HOUR, e)
                    else:
                        _, name, freq, carry = need
                        lo = d0.replace(day=1) if freq == "monthly" else d0 - timedelta(days=carry)
                        _merge_range(indices, name, lo, d1)
    return MarketNeeds(prices, indices)


# --------------------------------------------------------------------------- partials
@dataclass(frozen=True)
class LineSum:
    """Exact sums of one line (one contract version) over the intervals seen so far."""
    line_id: str
    contract_version: int
    charge: str
    description: str
    tou_bucket: str | None
    quantity_wh: int
    amount_picousd: int
    intervals: int
    rate_min: int
    rate_max: int
    sums: dict[str, int] = field(default_factory=dict)   # the term's additive line determinants

    @property
    def key(self) -> tuple[str, int]:
        return (self.line_id, self.contract_version)

    def __add__(self, o: "LineSum") -> "LineSum":
        assert self.key == o.key
        return LineSum(self.line_id, self.contract_version, self.charge,
                       min(self.description, o.description), self.tou_bucket,
                       self.quantity_wh + o.quantity_wh, self.amount_picousd + o.amount_picousd,
                       self.intervals + o.intervals, min(self.rate_min, o.rate_min),
                       max(self.rate_max, o.rate_max),
                       {k: self.sums.get(k, 0) + o.sums.get(k, 0) for k in sorted({*self.sums, *o.sums})})


@dataclass(frozen=True)
class SitePartial:
    """The map output: exact, additive, order-free. ``lines`` sorted by key;
    ``detail`` sorted by site, line, interval and version, one row per (site, line,
    interval) (``settle_site`` and ``combine`` guarantee it)."""
    contract_id: str
    period: str
    site_ids: tuple[str, ...]
    lines: tuple[LineSum, ...]
    determinants: dict[str, int]
    delivered_wh: int
    vee: dict[str, int]
    detail: pa.Table

    @classmethod
    def empty(cls, contract_id: str, period: str) -> "SitePartial":
        return cls(contract_id, period, (), (), {}, 0, {k: 0 for k in _VEE_KEYS},
                   DETAIL_SCHEMA.empty_table())

    def line_totals(self) -> dict[tuple[str, int], LineSum]:
        return {ls.key: ls for ls in self.lines}


_QUALITY_ARROW = pa.array(QUALITY_LETTERS.tolist(), pa.string())
#: the empty interval detail of a partial priced without detail (an immutable table;
#: building one costs more than pricing a term)
_EMPTY_DETAIL = DETAIL_SCHEMA.empty_table()


def _detail_table(site_id: str, starts: np.ndarray, version: int, quality: np.ndarray,
                  lines: list) -> pa.Table:
    if not lines:
        return DETAIL_SCHEMA.empty_table()
    cols: dict[str, list] = {k: [] for k in DETAIL_SCHEMA.names}
    for ln in lines:
        n = ln.sel.size
        cols["line_id"].append(pa.repeat(pa.scalar(ln.line_id, pa.string()), n))
        cols["site_id"].append(pa.repeat(pa.scalar(site_id, pa.string()), n))
        cols["interval_start_utc"].append(pa.array(starts[ln.sel], UTC_TS))
        cols["quantity_wh"].append(pa.array(ln.quantity_wh, pa.int64()))
        cols["rate_microusd_per_mwh"].append(pa.array(ln.rate_microusd_per_mwh, pa.int64()))
        cols["amount_picousd"].append(pa.array(ln.amount_picousd, pa.int64()))
        cols["tou_bucket"].append(pa.repeat(pa.scalar(ln.tou_bucket, pa.string()), n))
        cols["quality"].append(_QUALITY_ARROW.take(pa.array(quality[ln.sel])))
        cols["contract_version"].append(pa.array(np.full(n, version, dtype=np.int32), pa.int32()))
    return pa.Table.from_arrays([pa.concat_arrays(cols[k]) for k in DETAIL_SCHEMA.names],
                                schema=DETAIL_SCHEMA)


def _order_codes(col: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """int64 codes that sort like the column (strings by the rank of their value:
    code point order, which is Arrow's byte order for UTF-8); None if it has nulls."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count:
        return None
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        enc = pc.dictionary_encode(col)
        values = np.array(enc.dictionary.to_pylist(), dtype=object)
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.argsort(values, kind="stable")] = np.arange(len(values), dtype=np.int64)
        return rank[enc.indices.to_numpy(zero_copy_only=False)]
    return col.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _sort_detail(t: pa.Table) -> tuple[pa.Table, bool]:
    """Detail sorted by site, line, interval, version; and whether two rows share a
    (site, line, interval) (adjacent once sorted)."""
    if t.num_rows == 0:
        return DETAIL_SCHEMA.empty_table(), False
    maybe_codes = [_order_codes(t.column(k)) for k, _ in _DETAIL_ORDER]
    codes = [c for c in maybe_codes if c is not None]
    if len(codes) < len(maybe_codes):
        t = t.take(pc.sort_indices(t, sort_keys=_DETAIL_ORDER)).combine_chunks()
        keys = t.select(["site_id", "line_id", "interval_start_utc"])
        return t, keys.group_by(keys.column_names).aggregate([]).num_rows != keys.num_rows
    order = np.lexsort(codes[::-1])                # stable, like Arrow's sort_indices
    same = np.ones(t.num_rows - 1, dtype=bool)
    for c in codes[:3]:                            # site, line, interval
        c = c[order]
        same &= c[1:] == c[:-1]
    return t.take(order).combine_chunks(), bool(same.any())


def _sorted_detail(t: pa.Table) -> pa.Table:
    """``t`` sorted; a (site, line, interval) twice is a bug in a term, not in the data."""
    t, overlap = _sort_detail(t)
    if overlap:
        raise ValueError("detail: the same site interval appears twice on one line")
    return t


def _channels_needed(cv: ContractVersion, site: Site) -> list[str]:
    refs = list(cv.delivered.refs())
    for t in cv.terms:
        refs += [r for _, r in TERM_KINDS[t.kind].refs(t.params)]
    return resolve_refs(refs, site)


# --------------------------------------------------------------------------- the map
#
# The map of one site-month is two steps, so that what-if variants can re-price a
# site-month without preparing it again (``engine.scenario``, ``jobs.scenario``):
#
# * :func:`prepare_site` does everything that does not depend on market data: the
#   channels placed on the billing grid, the versions in force, local fields,
#   delivered energy, quality, and the terms that read no market data (a term's
#   ``needs`` lists every price or index series it reads: settlement reads nothing
#   else), with their exact line sums and determinants;
# * :func:`price_site` runs the terms that read market data over a given
#   ``MarketData`` and adds the prepared sums: the exact ``SitePartial``, with or
#   without the interval detail.
#
# ``settle_site`` is ``price_site(prepare_site(...), market, detail=True)``: billing
# goes through both steps, so a variant re-priced from a prepared site-month is
# settled by exactly the code that bills.
@dataclass(frozen=True)
class _TermMap:
    """One term's map output over one version sub-range: its exact line sums and
    determinants, and (when kept) the interval lines behind them."""
    sums: tuple[LineSum, ...]
    determinants: tuple[tuple[str, int], ...]
    lines: tuple[Any, ...]                 # engine.terms.base.IntervalLine (detail)


def _term_map(out: Any, version: int) -> _TermMap:
    sums = tuple(_line_sum(ln, version) for ln in out.lines if ln.sel.size)
    return _TermMap(sums, tuple((k, int(v)) for k, v in out.determinants.items()),
                    tuple(ln for ln in out.lines if ln.sel.size))


def _line_sum(ln: Any, version: int) -> LineSum:
    """The exact sums of one interval line (nothing rounded)."""
    return LineSum(ln.line_id, version, ln.charge, ln.description, ln.tou_bucket,
                   sum_exact(ln.quantity_wh), sum_exact(ln.amount_picousd), int(ln.sel.size),
                   int(ln.rate_microusd_per_mwh.min()), int(ln.rate_microusd_per_mwh.max()),
                   dict(ln.sums))


@dataclass(frozen=True)
class PreparedRange:
    """One contract version's sub-range of a prepared site-month."""
    cv: ContractVersion
    ctx: IntervalContext                   # its intervals; ``market`` is the one prepared with
    quality: np.ndarray
    fixed: dict[int, _TermMap]             # term index -> map of a term reading no market data
    priced: tuple[int, ...]                # indices of the terms that read market data


@dataclass(frozen=True, eq=False)
class PreparedSite:
    """A site-month prepared for pricing (:func:`prepare_site`): everything of its map
    that does not depend on market data. Immutable apart from an internal cache of
    price-alignment indices, so one prepared site-month may be priced any number of
    times, with any market data (:func:`price_site`)."""
    contract_id: str
    period: str
    site: Site
    intervals: SiteIntervals | None        # None: no version in force (an empty partial)
    ranges: tuple[PreparedRange, ...]
    delivered_wh: int
    vee: dict[str, int]
    keep_lines: bool
    _gathers: dict = field(default_factory=dict, repr=False)

    @property
    def empty(self) -> bool:
        return not self.ranges


def prepare_site(versions: list[ContractVersion], period: str, site: Site, series: dict[str, Any],
                 market: MarketData | None = None, *, window: tuple[int, int] | None = None,
                 keep_lines: bool = True) -> PreparedSite:
    """The market-independent part of the map of one site over the billing month.

    ``series`` maps channel name -> VEE output (see :func:`settle_site`); ``market``
    is handed to the contexts (terms reading no market data never look at it);
    ``keep_lines=False`` keeps only the sums of the terms reading no market data (a
    prepared site-month that is only ever priced without detail holds no interval
    arrays beyond its channels)."""
    if not versions:
        raise InputError("settle_site: no contract versions")
    cid, tz = versions[0].contract_id, versions[0].timezone
    b0, b1 = local_month_bounds_us(period, tz)
    if window is not None:
        b0, b1 = max(b0, int(window[0])), min(b1, int(window[1]))
    vif = ([(cv, s, e) for cv, s, e in versions_in_force(versions, b0, b1) if site.site_id in cv.sites]
           if b0 < b1 else [])
    if not vif:
        return PreparedSite(cid, period, site, None, (), 0, {k: 0 for k in _VEE_KEYS}, keep_lines)
    needed = sorted({n for cv, _, _ in vif for n in _channels_needed(cv, site)})
    si = SiteIntervals.build(site, series, needed, b0, b1)
    ranges = []
    delivered_total = 0
    quality_all: list[np.ndarray] = []
    for cv, s, e in vif:
        i0, i1 = np.searchsorted(si.grid_us, [s, e])
        starts = si.grid_us[i0:i1]
        dl = delivered_wh(si, cv.delivered.add, cv.delivered.subtract, cv.delivered.cap_at,
                          cv.delivered.floor_zero)[i0:i1]
        quality = si.quality_of(_channels_needed(cv, site))[i0:i1]
        quality_all.append(quality)
        delivered_total += sum_exact(dl)
        ctx = IntervalContext(cv, site, starts, si.minutes, local_fields(starts, cv.timezone), dl,
                              quality, market,
                              _energy=lambda refs, i0=i0, i1=i1: si.energy_of(refs)[i0:i1])
        fixed: dict[int, _TermMap] = {}
        priced: list[int] = []
        for k, t in enumerate(cv.terms):
            tk = TERM_KINDS[t.kind]
            if tk.needs(t, cv, site):
                priced.append(k)
            else:
                tm = _term_map(tk.interval(t, ctx), cv.version)
                fixed[k] = tm if keep_lines else dataclasses.replace(tm, lines=())
        ranges.append(PreparedRange(cv, ctx, quality, fixed, tuple(priced)))
    return PreparedSite(cid, period, site, si, tuple(ranges), delivered_total,
                        vee_counts(np.concatenate(quality_all)), keep_lines)


def price_site(prepared: PreparedSite, market: MarketData, *, detail: bool = False) -> SitePartial:
    """The map's market-dependent part: the terms that read market data, priced over
    ``market``, added to the prepared sums. The exact ``SitePartial`` of
    ``settle_site`` over the same inputs; ``detail=False`` leaves its interval
    detail empty (the lines, sums and determinants are the same)."""
    if prepared.empty:
        return SitePartial.empty(prepared.contract_id, prepared.period)
    if detail and not prepared.keep_lines:
        raise ValueError("price_site: detail needs a site-month prepared with keep_lines=True")
    site = prepared.site
    sums: dict[tuple[str, int], LineSum] = {}
    dets: dict[str, int] = {}
    tables: list[pa.Table] = []
    in_order = True
    for r in prepared.ranges:
        cv = r.cv
        ctx = r.ctx if market is r.ctx.market else _priced_context(prepared, r, market)
        lines: list[Any] = []
        for k, t in enumerate(cv.terms):
            tm = r.fixed.get(k)
            if tm is None:
                tm = _term_map(TERM_KINDS[t.kind].interval(t, ctx), cv.version)
            for name, v in tm.determinants:
                dets[name] = dets.get(name, 0) + v
            for ls in tm.sums:
                sums[ls.key] = sums[ls.key] + ls if ls.key in sums else ls
            lines.extend(tm.lines)
        if detail:
            lines.sort(key=lambda ln: ln.line_id)
            tables.append(_detail_table(site.site_id, ctx.start_us, cv.version, r.quality, lines))
            in_order = in_order and _lines_in_order(lines)
    if not detail:
        out_detail = _EMPTY_DETAIL
    else:
        out_detail = (tables[0] if in_order and len(tables) == 1    # built sorted (one version)
                      else _sorted_detail(pa.concat_tables(tables)))
    return SitePartial(prepared.contract_id, prepared.period, (site.site_id,),
                       tuple(sums[k] for k in sorted(sums)), dets, prepared.delivered_wh,
                       dict(prepared.vee), out_detail)


def _priced_context(prepared: PreparedSite, r: PreparedRange, market: MarketData) -> IntervalContext:
    """``r``'s context over ``market``: the contract years stay cached; a price or
    index series laid on the grid of the series the range was aligned with before is
    aligned by the same gather (no search), others by ``engine.pricing`` as usual."""
    cache: dict = {k: v for k, v in r.ctx._cache.items() if k == "year"}
    for k in r.priced:
        t = r.cv.terms[k]
        for need in TERM_KINDS[t.kind].needs(t, r.cv, prepared.site):
            if need[0] == "price":
                ps = market.prices.get(need[1])
                idx = _price_gather(prepared, r, ps) if ps is not None else None
                if ps is not None and idx is not None:
                    cache[("price",) + tuple(need[1])] = ps.lmp_microusd_per_mwh[idx]
            else:
                _, name, freq, carry = need
                ix = market.indices.get(name)
                idx = _index_gather(prepared, r, ix, name, freq, carry) if ix is not None else None
                if ix is not None and idx is not None:
                    cache[("index", name, freq, carry)] = ix.value_micro[idx]
    return dataclasses.replace(r.ctx, market=market, _cache=cache)


def _price_gather(prepared: PreparedSite, r: PreparedRange, s: PriceSeries) -> np.ndarray | None:
    """Positions into ``s`` such that ``s.lmp_microusd_per_mwh[positions]`` is what
    ``engine.pricing.align_prices`` gives for the range's intervals, or None when
    alignment may average finer prices (then the caller aligns as usual). Found by
    aligning the series' positions themselves, once per price grid (a series whose
    values a variant changed keeps its grid arrays, so its alignment is one gather)."""
    key = ("price", id(r), id(s.start_us), id(s.minutes))
    hit = prepared._gathers.get(key)
    if hit is not None and hit[0] is s.start_us and hit[1] is s.minutes:
        return hit[2]
    starts, minutes = r.ctx.start_us, r.ctx.minutes
    step = minutes * 60_000_000
    start_us = np.asarray(s.start_us, dtype=np.int64)
    mins = np.asarray(s.minutes, dtype=np.int64)
    # every price interval a whole number of meter intervals, on the meter grid: each
    # meter interval then lies inside one price interval (alignment is a pure gather)
    gather = (starts.size > 0 and start_us.size > 0 and bool(np.all(mins % minutes == 0))
              and bool(np.all((start_us - starts[0]) % step == 0)))
    idx = None
    if gather:
        positions = PriceSeries(start_us, mins, np.arange(start_us.size, dtype=np.int64))
        try:
            idx = align_prices(positions, starts, minutes, "gather")
        except (InputError, DataMissingError):
            idx = None                     # aligned (and refused) as usual, with its message
    prepared._gathers[key] = (s.start_us, s.minutes, idx)
    return idx


def _index_gather(prepared: PreparedSite, r: PreparedRange, s: IndexSeries, name: str, freq: str,
                  carry: int) -> np.ndarray | None:
    """Positions into ``s`` such that ``s.value_micro[positions]`` is what
    ``engine.pricing.align_index`` gives (index alignment is always a gather), once
    per series' dates."""
    key = ("index", id(r), id(s.period_start_days), freq, carry)
    hit = prepared._gathers.get(key)
    if hit is not None and hit[0] is s.period_start_days:
        return hit[1]
    days = np.asarray(s.period_start_days, dtype=np.int64)
    try:
        idx = align_index(IndexSeries(days, np.arange(days.size, dtype=np.int64)), r.ctx.local.day,
                          name, frequency=freq, carry_forward_days=carry)
    except (InputError, DataMissingError):
        idx = None
    prepared._gathers[key] = (s.period_start_days, idx)
    return idx


def settle_site(versions: list[ContractVersion], period: str, site: Site, series: dict[str, Any],
                market: MarketData, *, window: tuple[int, int] | None = None) -> SitePartial:
    """Map: settle every interval-level term for one site over the billing month.

    ``series`` maps channel name -> VEE output (``engine.delivered.ChannelSeries`` or
    any object with ``grid_us``, ``energy_wh``, ``quality``, ``method``).
    ``window`` (UTC us ``[start, end)``) restricts the map to part of the month, so a
    site-month can also be partitioned by days; the partials of disjoint windows
    combine to exactly the whole month's.
    """
    return price_site(prepare_site(versions, period, site, series, market, window=window), market,
                      detail=True)


def _lines_in_order(lines: list) -> bool:
    """Lines (sorted by id) with distinct ids, each over increasing intervals: their
    detail rows concatenated are already in the detail order (site and version being
    constant)."""
    return (len({ln.line_id for ln in lines}) == len(lines)
            and all(bool(np.all(ln.sel[1:] > ln.sel[:-1])) for ln in lines))


def combine(partials: list[SitePartial]) -> SitePartial:
    """Reduce: exact sums and sorted detail; associative and commutative."""
    partials = [p for p in partials if p is not None]
    if not partials:
        raise ValueError("combine: no partials")
    cid, period = partials[0].contract_id, partials[0].period
    for p in partials:
        if (p.contract_id, p.period) != (cid, period):
            raise ValueError(f"combine: {p.contract_id} {p.period} mixed with {cid} {period}")
    # The same site may appear in several partials (day windows); the intervals must
    # be disjoint, which the detail-key check below enforces.
    sites = tuple(sorted({s for p in partials for s in p.site_ids}))
    sums: dict[tuple[str, int], LineSum] = {}
    dets: dict[str, int] = {}
    vee = {k: 0 for k in _VEE_KEYS}
    for p in partials:
        for ls in p.lines:
            sums[ls.key] = sums[ls.key] + ls if ls.key in sums else ls
        for k, v in p.determinants.items():
            dets[k] = dets.get(k, 0) + v
        for k in _VEE_KEYS:
            vee[k] += p.vee.get(k, 0)
    if len(partials) == 1:                 # already sorted and unique (see SitePartial)
        detail = partials[0].detail
    else:
        detail, overlap = _sort_detail(pa.concat_tables([p.detail for p in partials]))
        if overlap:
            raise ValueError("combine: overlapping partials (the same site interval settled twice)")
    return SitePartial(cid, period, sites, tuple(sums[k] for k in sorted(sums)),
                       dict(sorted(dets.items())), sum(p.delivered_wh for p in partials), vee, detail)


# --------------------------------------------------------------------------- finalize
@dataclass(frozen=True)
class Line:
    """One invoice line. ``amount_cents`` is the exact line amount rounded once."""
    line_id: str
    charge: str
    description: str
    quantity: Decimal
    quantity_unit: str
    rate: str
    rate_unit: str
    amount_cents: int
    tou_bucket: str | None
    contract_versions: tuple[int, ...]
    amount_picousd: Fraction          # exact, before rounding (audit)
    intervals: int = 0
    determinants: dict[str, str] | None = None   # the kind's ``line_determinants`` (decimal strings)


@dataclass(frozen=True)
class SettlementResult:
    contract_id: str
    period: str
    timezone: str
    contract_version: int             # the version in force on the period's last day
    contract_versions: tuple[int, ...]
    site_ids: tuple[str, ...]
    lines: tuple[Line, ...]
    total_cents: int
    delivered_wh: int
    vee: dict[str, int]
    detail: pa.Table


def fraction_to_cents(amount_picousd: Fraction) -> int:
    """Exact pico-USD (possibly fractional) -> cents, half away from zero (the one rule)."""
    a = Fraction(amount_picousd)
    if a.denominator == 1:
        return picousd_to_cents(a.numerator)
    q = abs(a) / PICO_PER_CENT
    cents = int(q) + (1 if q - int(q) >= Fraction(1, 2) else 0)
    return cents if a >= 0 else -cents


def _rate_str(rate: Fraction | int, *, micro: bool = False) -> str:
    """A rate as a decimal string: exact up to 6 places (else rounded to 6), at least 2 places."""
    f = Fraction(rate, 10**6) if micro else Fraction(rate)
    s = frac_str(f, 6)
    whole, _, frac = s.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac.ljust(2, '0')}"


def _mwh(wh: int | Fraction) -> Decimal:
    """Wh -> MWh with 6 places (exact for whole Wh; display-rounded half-even otherwise)."""
    return Decimal(round(Fraction(wh))).scaleb(-6).quantize(Decimal("0.000001"))


def lookback_periods(cv: ContractVersion | list[ContractVersion], period: str) -> list[str]:
    """Earlier months whose delivered energy ``finalize`` needs for ``period``: the
    union of its terms' ``lookback_periods`` (``min_delivery`` closing a guarantee period).

    ``cv`` is the version in force at the end of ``period`` (or the list of versions,
    from which that one is chosen). The caller passes ``lookback={month:
    delivered_wh}`` to ``finalize``, taking each month's ``SettlementResult.delivered_wh``
    (also in the invoice as ``delivered_mwh``) from its latest settlement.
    """
    if isinstance(cv, (list, tuple)):
        cv = version_at_period_end(list(cv), period)
    months: set[str] = set()
    for t in cv.terms:
        months.update(TERM_KINDS[t.kind].lookback_periods(t, cv, period))
    return sorted(months)


def invoice_order(lines: list, term_ids: list[str], item: Callable[[Any], Any] | None = None) -> list:
    """Lines in invoice order: by term (``term_ids`` order, then terms of earlier
    versions by id), each term's lines by its kind's ``line_rank`` (then part name),
    the same line of several versions by version. ``item`` gets the line of an
    element (default: the element is the line)."""
    order = {tid: i for i, tid in enumerate(term_ids)}

    def key(x: Any):
        ln = x if item is None else item(x)
        tid, _, part = ln.line_id.partition("@v")[0].partition(":")
        return (order.get(tid, len(order)), tid, line_rank(ln.charge, part), part, ln.contract_versions)

    return sorted(lines, key=key)


@dataclass(frozen=True)
class _Closing:
    """What finalizing a contract's period needs besides its partial: the version in
    force on the period's last local day, that day, and the versions in force."""
    cv_end: ContractVersion
    last_day: date
    versions_used: tuple[int, ...]
    term_ids: tuple[str, ...]


def _closing(versions: list[ContractVersion], period: str) -> _Closing:
    cv_end = version_at_period_end(versions, period)
    tz = cv_end.timezone
    b0, b1 = local_month_bounds_us(period, tz)
    in_force = versions_in_force(versions, b0, b1)
    last_us = in_force[-1][2] - 1
    last_day = date(1970, 1, 1) + timedelta(days=int(local_fields(np.array([last_us]), tz).day[0]))
    return _Closing(cv_end, last_day, tuple(sorted({v.version for v, _, _ in in_force})),
                    tuple(t.id for t in cv_end.terms))


def _line_ids(partial: SitePartial) -> list[str]:
    """The invoice line id of each of the partial's line sums: ``<line_id>``, or
    ``<line_id>@v<N>`` when the period has the line under several versions."""
    multi: dict[str, set[int]] = {}
    for ls in partial.lines:
        multi.setdefault(ls.line_id, set()).add(ls.contract_version)
    return [ls.line_id if len(multi[ls.line_id]) == 1 else f"{ls.line_id}@v{ls.contract_version}"
            for ls in partial.lines]


def _period_lines(closing: _Closing, period: str, partial: SitePartial,
                  lookback: dict[str, int] | None) -> list[Line]:
    """The period-level terms' lines (each rounded once), from the combined partial."""
    cv_end = closing.cv_end
    pctx = PeriodContext(cv_end, period, partial.determinants, partial.delivered_wh, lookback,
                         closing.last_day)
    lines = []
    for t in cv_end.terms:
        if TERM_KINDS[t.kind].period_level:
            for pl in TERM_KINDS[t.kind].period(t, pctx):
                qty = (_mwh(pl.quantity * WH_PER_MWH) if pl.quantity_unit == "MWh"
                       else Decimal(frac_str(pl.quantity, 6)))
                lines.append(Line(pl.line_id, pl.charge, pl.description, qty, pl.quantity_unit,
                                  _rate_str(pl.rate), pl.rate_unit, fraction_to_cents(pl.amount_picousd),
                                  None, (cv_end.version,), pl.amount_picousd, 0))
    return lines


def _check_partial(closing: _Closing, period: str, partial: SitePartial) -> None:
    if (partial.contract_id, partial.period) != (closing.cv_end.contract_id, period):
        raise ValueError(f"finalize: partial is for {partial.contract_id} {partial.period}")


def finalize(versions: list[ContractVersion], period: str, partial: SitePartial, *,
             lookback: dict[str, int] | None = None) -> SettlementResult:
    """Period-level terms, one rounding per line, total = sum of rounded lines."""
    closing = _closing(versions, period)
    _check_partial(closing, period, partial)
    lines: list[Line] = []
    for lid, ls in zip(_line_ids(partial), partial.lines):
        if ls.rate_min == ls.rate_max:
            rate = _rate_str(ls.rate_min, micro=True)
        elif ls.quantity_wh:
            rate = _rate_str(Fraction(ls.amount_picousd, ls.quantity_wh * 10**6))
        else:
            rate = "0.00"
        tk = TERM_KINDS.get(ls.charge)
        dets = tk.line_determinants(ls.sums, ls.quantity_wh, ls.amount_picousd) if tk and ls.sums else None
        lines.append(Line(lid, ls.charge, ls.description, _mwh(ls.quantity_wh), "MWh", rate, "USD/MWh",
                          picousd_to_cents(ls.amount_picousd), ls.tou_bucket, (ls.contract_version,),
                          Fraction(ls.amount_picousd), ls.intervals, dets or None))
    lines += _period_lines(closing, period, partial, lookback)
    lines = invoice_order(lines, list(closing.term_ids))
    cv_end = closing.cv_end
    return SettlementResult(cv_end.contract_id, period, cv_end.timezone, cv_end.version,
                            closing.versions_used, partial.site_ids, tuple(lines),
                            sum(ln.amount_cents for ln in lines), partial.delivered_wh,
                            dict(partial.vee), partial.detail)


@dataclass(frozen=True)
class LineAmount:
    """An invoice line without its text: id, charge, quantity and amount (rounded
    once, as on the invoice). What :func:`finalize_amounts` gives."""
    line_id: str
    charge: str
    quantity: Decimal
    quantity_unit: str
    amount_cents: int
    contract_versions: tuple[int, ...]


def finalize_amounts(versions: list[ContractVersion], period: str, partial: SitePartial, *,
                     lookback: dict[str, int] | None = None, memo: dict | None = None
                     ) -> tuple[LineAmount, ...]:
    """The lines of :func:`finalize`, in invoice order, without rates and descriptions:
    each line's quantity and amount (the same cents as ``finalize``). For what-if
    variants, which finalize the same contract-period many times.

    ``memo`` (one dict per ``versions`` list, kept by the caller) remembers the
    period's closing version and the period-level lines per distinct (determinants,
    delivered energy, look-back): a period-level line is a function of those alone, so
    variants that change only prices reuse the base's."""
    memo = {} if memo is None else memo
    closing = memo.get(("closing", period))
    if closing is None:
        closing = memo[("closing", period)] = _closing(versions, period)
    _check_partial(closing, period, partial)
    key = ("period", period, tuple(sorted(partial.determinants.items())), partial.delivered_wh,
           tuple(sorted((lookback or {}).items())))
    period_lines = memo.get(key)
    if period_lines is None:
        period_lines = memo[key] = tuple(
            LineAmount(ln.line_id, ln.charge, ln.quantity, ln.quantity_unit, ln.amount_cents,
                       ln.contract_versions)
            for ln in _period_lines(closing, period, partial, lookback))
    lines = [LineAmount(lid, ls.charge, _mwh(ls.quantity_wh), "MWh", picousd_to_cents(ls.amount_picousd),
                        (ls.contract_version,))
             for lid, ls in zip(_line_ids(partial), partial.lines)]
    lines += period_lines
    okey = ("order", period, tuple((ln.line_id, ln.charge, ln.contract_versions) for ln in lines))
    order = memo.get(okey)
    if order is None:                         # the invoice order of these lines, once
        ranked = invoice_order(list(enumerate(lines)), list(closing.term_ids), item=lambda x: x[1])
        order = memo[okey] = tuple(i for i, _ in ranked)
    return tuple(lines[i] for i in order)


def settle_period(versions: list[ContractVersion], period: str,
                  sites_series: dict[str, tuple[Site, dict[str, Any]]], market: MarketData,
                  lookback: dict[str, int] | None = None) -> SettlementResult:
    """Convenience: ``settle_site`` per site + ``combine`` + ``finalize``."""
    cid = versions[0].contract_id
    partials = [settle_site(versions, period, site, series, market)
                for _, (site, series) in sorted(sites_series.items())]
    return finalize(versions, period, combine(partials or [SitePartial.empty(cid, period)]),
                    lookback=lookback)


__all__ = ["MarketData", "MarketNeeds", "PriceSeries", "IndexSeries", "required_market_data",
           "LineSum", "SitePartial", "settle_site", "combine", "Line", "SettlementResult",
           "finalize", "invoice_order", "settle_period", "lookback_periods", "fraction_to_cents",
           "DETAIL_SCHEMA", "PreparedSite", "PreparedRange", "prepare_site", "price_site", "LineAmount",
           "finalize_amounts"]
