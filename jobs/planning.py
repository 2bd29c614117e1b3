"""Generic, pure planning helpers: partition keys and site x month plans from an inventory.

An *inventory* is the list of ``(site_id, month)`` pairs that hold meter data
(``storage.tables.Tables.meter_partitions``), month = site-local ``YYYY-MM``. Plans
are deterministic: the same inventory and arguments give the same partitions in the
same order, whatever order the inventory came in.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from engine.errors import InputError
from engine.timebase import parse_period

from .tasks import Partition

__all__ = ["KEY_SEP", "partition_key", "split_key", "select_site_months", "group_partitions",
           "plan_site_months"]

KEY_SEP = "|"


def partition_key(*parts: str) -> str:
    """``partition_key("TX-DC1", "2026-10") == "TX-DC1|2026-10"``; parts may not contain ``|``."""
    if not parts:
        raise ValueError("a partition key needs at least one part")
    for p in parts:
        if not p or KEY_SEP in p:
            raise ValueError(f"partition key part {p!r} is empty or contains {KEY_SEP!r}")
    return KEY_SEP.join(parts)


def split_key(key: str) -> list[str]:
    return key.split(KEY_SEP)


def select_site_months(inventory: Iterable[tuple[str, str]], *, from_period: str, to_period: str,
                       sites: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The inventory pairs inside ``[from_period, to_period]`` (and ``sites``), sorted by
    (site, month). A named site with no data at all is an ``InputError`` (a typo is more
    likely than an empty site)."""
    lo, hi = parse_period(from_period), parse_period(to_period)
    chosen = None if sites is None else set(sites)
    pairs = sorted({(s, m) for s, m in inventory
                    if lo <= parse_period(m) <= hi and (chosen is None or s in chosen)})
    if chosen is not None:
        known = {s for s, _ in inventory}
        missing = sorted(chosen - known)
        if missing:
            raise InputError(f"no meter data stored for site(s) {missing}")
    return pairs


def group_partitions(items: Sequence[tuple[str, dict[str, Any]]], size: int) -> list[Partition]:
    """Pack ``(key, params)`` items, in order, into partitions of up to ``size`` items.

    ``size == 1`` keeps each item's key; a group is keyed ``<first>..<last>`` and
    carries its items as ``params["items"]`` (a list of ``{"key", "params"}``), with
    weight = number of items.
    """
    if size < 1:
        raise ValueError(f"partition size must be >= 1, got {size}")
    if size == 1:
        return [Partition(key=k, params={"items": [{"key": k, "params": p}]}) for k, p in items]
    out = []
    for i in range(0, len(items), size):
        chunk = items[i:i + size]
        key = chunk[0][0] if len(chunk) == 1 else f"{chunk[0][0]}..{chunk[-1][0]}"
        out.append(Partition(key=key, params={"items": [{"key": k, "params": p} for k, p in chunk]},
                             weight=len(chunk)))
    return out


def plan_site_months(inventory: Iterable[tuple[str, str]], *, from_period: str, to_period: str,
                     sites: Sequence[str] | None = None, size: int = 1,
                     params: Callable[[str, str], dict[str, Any]] | None = None) -> list[Partition]:
    """Site x month partitions from an inventory: one item per stored site-month, keyed
    ``"<site>|<month>"``, grouped ``size`` at a time (consecutive months of a site stay
    together). ``params(site, month)`` adds per-item parameters."""
    pairs = select_site_months(inventory, from_period=from_period, to_period=to_period, sites=sites)
    items = [(partition_key(s, m), {"site_id": s, "month": m, **(params(s, m) if params else {})})
             for s, m in pairs]
    return group_partitions(items, size)
