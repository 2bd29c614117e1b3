"""Shadow settlement of one resource over a range of operating days.

:func:`shadow_settle` cuts ``[first_day, last_day]`` (ISO operating days, prevailing
time of the ISO: ``resources.ISO_TIMEZONES``) at the rule-set boundaries
(``engine.market.rules``), runs every module in force on each piece over the UTC
bounds of its local days (a spring-forward day has 23 hours: 92 fifteen-minute or
276 five-minute intervals; a fall-back day 25: 100 or 300), and returns the
``shadow`` table (``engine.schema.SHADOW``), sorted, one row per line. Pure: the
inputs come in as :class:`~engine.market.inputs.MarketInputs`.

:func:`totals` sums the lines' cents per charge type (a total is a sum of lines).
"""
from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from ..timebase import local_midnight_us
from .inputs import MarketInputs
from .lines import Lines, to_table
from .resources import ISO_TIMEZONES
from .rules import boundaries, in_force


def day_bounds_us(iso: str, first_day: date, last_day: date) -> tuple[int, int]:
    """UTC ``[start, end)`` of the ISO operating days ``first_day..last_day``."""
    tz = ISO_TIMEZONES[iso]
    return local_midnight_us(first_day, tz), local_midnight_us(last_day + timedelta(days=1), tz)


def pieces(iso: str, first_day: date, last_day: date) -> list[tuple[date, date]]:
    """``[first, last]`` cut at the rule boundaries: inclusive day ranges."""
    cuts = [d for d in boundaries(iso) if first_day < d <= last_day]
    out, lo = [], first_day
    for d in cuts:
        out.append((lo, d - timedelta(days=1)))
        lo = d
    out.append((lo, last_day))
    return out


def shadow_blocks(inp: MarketInputs, first_day: date, last_day: date) -> list[Lines]:
    iso = inp.resource.iso
    blocks: list[Lines] = []
    for lo, hi in pieces(iso, first_day, last_day):
        start, end = day_bounds_us(iso, lo, hi)
        for rule in in_force(iso, lo):
            blocks += rule.load().compute(inp, start, end)
    return blocks


def shadow_settle(inp: MarketInputs, first_day: date, last_day: date) -> pa.Table:
    """The shadow lines of ``inp.resource`` for the operating days ``first..last``."""
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    return to_table(shadow_blocks(inp, first_day, last_day))


def totals(lines: pa.Table) -> dict[str, int]:
    """Cents per charge type (sorted by charge type)."""
    if lines.num_rows == 0:
        return {}
    g = lines.group_by("charge_type").aggregate([("amount_cents", "sum")])
    pairs = sorted(zip(g.column("charge_type").to_pylist(),
                       g.column("amount_cents_sum").to_pylist()))
    return {k: int(v) for k, v in pairs}


def interval_counts(lines: pa.Table) -> dict[str, int]:
    """Lines per charge type (e.g. 96 RTEIAMT a normal ERCOT day)."""
    if lines.num_rows == 0:
        return {}
    vc = pc.value_counts(lines.column("charge_type"))
    return dict(sorted((str(x["values"]), int(x["counts"])) for x in vc.to_pylist()))


__all__ = ["shadow_settle", "shadow_blocks", "day_bounds_us", "pieces", "totals", "interval_counts"]
