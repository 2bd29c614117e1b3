"""Is a settlement's input complete enough to bill? Meter completeness and market coverage.

A bill never rests silently on estimates or missing data. For each site-month a
contract settles, intervals are counted as **actual** (quality A), **estimated**
(VEE's estimates and the source's E/S/F rows) and **missing** (nothing to bill,
energy 0), over the UTC sub-ranges where a contract version in force covers the
site:

* the **site** counts are on the billing grid, each interval taking the worst
  quality of the channels that version reads: exactly the invoice's ``vee`` block
  (``engine.delivered``, ``engine.settlement.settle_site``);
* each **channel** the contract reads is counted on its own grid.

Limits are percentages of the intervals counted, exact decimals:
``max_estimated_pct`` and ``max_missing_pct``. Each is resolved on its own: the
contract version in force at the period's end (its document's ``completeness``),
else the site registry's (``engine.sites.CompletenessLimits``), else
:data:`DEFAULT_LIMITS`: **estimated <= 5 %, missing = 0** (one missing interval
makes a site-month short). A count is short when ``estimated x 100 > max_estimated_pct
x expected`` or ``missing x 100 > max_missing_pct x expected`` (exact; no rounding).

The settlement job counts every site-month in its map
(:func:`site_month_completeness`), and its reduce calls :func:`shortfalls` over all
of them before it publishes anything: a period with any shortfall fails the job
listing every one (:func:`describe`), unless the job was told to publish it anyway,
in which case the invoice's status is ``estimated`` and it carries
:func:`invoice_block` (the banner's content). The readiness check (``m2c settle
--check``) reads the same counts before any job runs, and :func:`market_gaps`: the
price and index series the terms read that do not cover every billed interval.

Pure: no I/O, no clock.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from .contract import ContractVersion, versions_in_force
from .delivered import SiteIntervals, quality_codes, resolve_refs
from .errors import DataMissingError, InputError
from .pricing import align_index, align_prices
from .settlement import MarketData
from .sites import LIMIT_FIELDS, CompletenessLimits, Site
from .terms import TERM_KINDS
from .timebase import local_fields, local_month_bounds_us
from .vee import QUALITY_NAMES, VeeCounts

__all__ = ["CompletenessLimits", "DEFAULT_LIMITS", "OVERRIDE", "contract_limits",
           "resolve_limits", "channels_read", "SiteMonthCompleteness", "site_month_completeness",
           "is_short", "Shortfall", "shortfalls", "describe", "invoice_block", "market_gaps"]

#: the limits where neither the contract nor the site sets one
DEFAULT_LIMITS = CompletenessLimits(max_estimated_pct=Decimal(5), max_missing_pct=Decimal(0))
#: how an invoice beyond its limits came to be published (``invoice_block``)
OVERRIDE = "allow_incomplete"

_VEE_SITE_CODES = quality_codes(QUALITY_NAMES)      # VEE quality code -> 0 A, 1 E/S/F, 2 missing


def contract_limits(document: Mapping[str, Any]) -> CompletenessLimits | None:
    """The ``completeness`` limits of a contract version's document (None: not set).
    The document was validated against the contract schema, which holds the format."""
    raw = document.get("completeness")
    return None if raw is None else CompletenessLimits.parse(raw)


def resolve_limits(contract: CompletenessLimits | None, site: CompletenessLimits | None
                   ) -> CompletenessLimits:
    """Each limit from the contract, else the site, else :data:`DEFAULT_LIMITS`."""
    out = {}
    for name in LIMIT_FIELDS:
        for level in (contract, site, DEFAULT_LIMITS):
            if level is not None and getattr(level, name) is not None:
                out[name] = getattr(level, name)
                break
    return CompletenessLimits(**out)


def channels_read(cv: ContractVersion, site: Site) -> list[str]:
    """The channels of ``site`` that contract version ``cv`` reads: its delivered
    definition and every term's references (``kind:`` references expanded)."""
    refs = list(cv.delivered.refs())
    for t in cv.terms:
        refs += [r for _, r in TERM_KINDS[t.kind].refs(t.params)]
    return sorted(set(resolve_refs(refs, site)))


def _counts(code: np.ndarray) -> VeeCounts:
    """Site quality codes (0 actual, 1 estimated, 2 missing) -> counts."""
    n = int(code.size)
    actual = int(np.count_nonzero(code == 0))
    missing = int(np.count_nonzero(code == 2))
    return VeeCounts(n, actual, n - actual - missing, missing)


def _site_codes(series: Any) -> np.ndarray:
    code = getattr(series, "quality_code", None)         # an engine.vee.ChannelVee
    return _VEE_SITE_CODES[code] if code is not None else quality_codes(series.quality)


@dataclass(frozen=True)
class SiteMonthCompleteness:
    """Interval counts of one site-month as one contract settles it, and the limits
    that apply to them."""
    site_id: str
    period: str
    limits: CompletenessLimits
    site: VeeCounts
    channels: dict[str, VeeCounts] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"site_id": self.site_id, "period": self.period, "limits": self.limits.to_doc(),
                "site": self.site.to_dict(),
                "channels": {n: c.to_dict() for n, c in sorted(self.channels.items())}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SiteMonthCompleteness":
        return cls(d["site_id"], d["period"], CompletenessLimits.parse(d["limits"]),
                   VeeCounts(**d["site"]), {n: VeeCounts(**c) for n, c in d["channels"].items()})


def site_month_completeness(versions: list[ContractVersion], period: str, site: Site,
                            series: Mapping[str, Any], limits: CompletenessLimits
                            ) -> SiteMonthCompleteness:
    """Counts of one site over the local billing month ``period`` (contract time
    zone) as ``versions`` settle it, from its VEE output per channel (``series``:
    ``engine.vee.ChannelVee`` or ``engine.delivered.ChannelSeries``)."""
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    vif = [(cv, s, e) for cv, s, e in versions_in_force(versions, b0, b1) if site.site_id in cv.sites]
    if not vif:
        return SiteMonthCompleteness(site.site_id, period, limits, VeeCounts())
    reads = [(cv, s, e, channels_read(cv, site)) for cv, s, e in vif]
    needed = sorted({n for *_, names in reads for n in names})
    si = SiteIntervals.build(site, dict(series), needed, b0, b1)
    site_code = []
    for _, s, e, names in reads:
        i0, i1 = np.searchsorted(si.grid_us, [s, e])
        site_code.append(si.quality_of(names)[i0:i1])
    channels = {}
    for n in needed:
        grid = np.asarray(series[n].grid_us, dtype=np.int64)
        inside = np.zeros(grid.size, dtype=bool)
        for _, s, e, names in reads:
            if n in names:
                inside |= (grid >= s) & (grid < e)
        channels[n] = _counts(_site_codes(series[n])[inside])
    return SiteMonthCompleteness(site.site_id, period, limits, _counts(np.concatenate(site_code)),
                                 channels)


def is_short(counts: VeeCounts, limits: CompletenessLimits) -> bool:
    """Beyond either limit (exact decimal comparison)."""
    n = counts.intervals_expected
    assert limits.max_estimated_pct is not None and limits.max_missing_pct is not None
    return (counts.estimated * 100 > limits.max_estimated_pct * n
            or counts.missing * 100 > limits.max_missing_pct * n)


def _pct(part: int, whole: int) -> str:
    """``part / whole`` in percent with two places (half up) for display; ``<0.01``
    for a non-zero share that would print as zero."""
    if not whole:
        return "0.00"
    p = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return "<0.01" if part and not p else str(p)


@dataclass(frozen=True)
class Shortfall:
    """One site (``channel`` None) or channel of one contract-period beyond its limits."""
    contract_id: str
    period: str
    site_id: str
    channel: str | None
    counts: VeeCounts
    limits: CompletenessLimits

    def to_dict(self) -> dict:
        c = self.counts
        return {"contract_id": self.contract_id, "period": self.period, "site_id": self.site_id,
                "channel": self.channel, **c.to_dict(),
                "estimated_pct": _pct(c.estimated, c.intervals_expected),
                "missing_pct": _pct(c.missing, c.intervals_expected), **self.limits.to_doc()}

    def describe(self) -> str:
        """``PPA-TX-DC1 2026-10 site TX-DC1 channel gt1: 8652 of 8928 intervals estimated
        (96.91 % > 5 %), 0 missing (0.00 % <= 0 %)``."""
        c, lim = self.counts, self.limits
        where = f"site {self.site_id}" + (f" channel {self.channel}" if self.channel else " (all channels read)")

        def part(count: int, what: str, limit: Decimal | None) -> str:
            op = ">" if count * 100 > (limit or 0) * c.intervals_expected else "<="
            return f"{count} {what} ({_pct(count, c.intervals_expected)} % {op} {limit} %)"
        return (f"{self.contract_id} {self.period} {where}: {c.intervals_expected} intervals, "
                f"{part(c.estimated, 'estimated', lim.max_estimated_pct)}, "
                f"{part(c.missing, 'missing', lim.max_missing_pct)}")


def shortfalls(contract_id: str, entries: Iterable[SiteMonthCompleteness]) -> list[Shortfall]:
    """Every site-month and channel of one contract beyond its limits, sorted by
    period, site, then the site before its channels (by name)."""
    out = []
    for m in sorted(entries, key=lambda m: (m.period, m.site_id)):
        if m.site.intervals_expected and is_short(m.site, m.limits):
            out.append(Shortfall(contract_id, m.period, m.site_id, None, m.site, m.limits))
        for name in sorted(m.channels):
            c = m.channels[name]
            if c.intervals_expected and is_short(c, m.limits):
                out.append(Shortfall(contract_id, m.period, m.site_id, name, c, m.limits))
    return out


def describe(found: list[Shortfall]) -> str:
    """The gate's verdict, one line per shortfall, for a job's error and the CLI."""
    contracts = sorted({(s.contract_id, s.period) for s in found})
    head = (f"meter data beyond the completeness limits for {len(contracts)} contract-period(s) "
            f"({len(found)} site/channel shortfall(s)); nothing was published. Complete the "
            f"data (ingest, then settle again), or publish them as 'estimated' invoices with "
            f"--allow-incomplete (spec allow_incomplete: true):")
    return "\n".join([head, *(f"  {s.describe()}" for s in found)])


def invoice_block(found: list[Shortfall]) -> dict:
    """The ``completeness`` block of an invoice published beyond its limits."""
    return {"override": OVERRIDE,
            "shortfalls": [{k: v for k, v in s.to_dict().items() if k not in ("contract_id", "period")}
                           for s in found]}


def market_gaps(versions: list[ContractVersion], period: str, site: Site, series: Mapping[str, Any],
                market: MarketData) -> list[str]:
    """Every price and index series the terms read for this site-month that does not
    cover every billed interval (or local day), as ``engine.pricing``'s message (it
    names the series, the count and the first intervals). The alignment is the one
    the terms use (``engine.terms.base.IntervalContext``), so an empty list means the
    market data will not stop this site-month's settlement."""
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    vif = [(cv, s, e) for cv, s, e in versions_in_force(versions, b0, b1) if site.site_id in cv.sites]
    if not vif:
        return []
    needed = sorted({n for cv, _, _ in vif for n in channels_read(cv, site)})
    si = SiteIntervals.build(site, dict(series), needed, b0, b1)
    found: dict[str, None] = {}
    for cv, s, e in vif:
        i0, i1 = np.searchsorted(si.grid_us, [s, e])
        starts = si.grid_us[i0:i1]
        if not starts.size:
            continue
        days = local_fields(starts, cv.timezone).day
        for t in cv.terms:
            for need in TERM_KINDS[t.kind].needs(t, cv, site):
                try:
                    if need[0] == "price":
                        align_prices(market.prices.get(need[1]), starts, si.minutes, "/".join(need[1]))
                    else:
                        _, name, frequency, carry = need
                        align_index(market.indices.get(name), days, name, frequency=frequency,
                                    carry_forward_days=carry)
                except (DataMissingError, InputError) as exc:
                    found[str(exc)] = None
    return list(found)
