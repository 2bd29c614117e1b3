"""Shadow-settlement lines: what every charge-type module returns, and the table of them.

A charge-type module returns one :class:`Lines` block: one line per settlement
interval (or hour) of one charge type for one resource, with its bill determinants
and its amount. The amount of a line is

    amount = sign x quantity_wh12 x price_microusd_per_mwh      (in 1/12 pico-USD)

computed exactly and rounded **once** to cents, half away from zero
(``engine.market.units.amount_cents``); a total is the sum of its lines' cents.
``sign`` is the ISO's own sign in front of the formula (ERCOT writes
``DAESAMT = (-1) x DASPP x DAES``). Every amount follows one convention, the ISOs'
statement convention: **> 0 is a charge to the participant, < 0 a payment to it**.

:func:`to_table` stacks blocks into the ``shadow`` table of ``engine.schema``,
sorted by (charge type, resource, interval): the same bytes whatever order the
blocks were computed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import SHADOW_SCHEMA
from ..timebase import local_fields
from .resources import ISO_TIMEZONES
from .units import amount_cents, mul_amount


@dataclass(frozen=True)
class Lines:
    """One charge type's lines for one resource (arrays of equal length)."""
    iso: str
    resource_id: str
    settlement_point: str
    charge_type: str
    rule: str
    start_us: np.ndarray
    minutes: int
    quantity_wh12: np.ndarray
    price: np.ndarray
    sign: int = 1
    metered_wh12: np.ndarray | None = None
    da_wh12: np.ndarray | None = None
    instructed_wh12: np.ndarray | None = None
    #: the exact signed amounts (1/12 pico-USD) when a line is not one quantity x price
    #: (ERCOT BPDAMT adds an over- and an under-generation part); None: sign x qty x price
    amount12: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.start_us.size)

    @property
    def cents(self) -> np.ndarray:
        if self.amount12 is not None:
            return amount_cents(self.amount12)
        return amount_cents(mul_amount(self.quantity_wh12, self.price), self.sign)

    def exact12(self) -> np.ndarray:
        """The exact signed amount of each line before its cent rounding, in 1/12
        pico-USD, as Python integers (an object array: no bound to overflow)."""
        if self.amount12 is not None:
            return np.asarray(self.amount12).astype(object)
        return np.asarray(mul_amount(self.quantity_wh12, self.price)).astype(object) * self.sign

    def select(self, mask: np.ndarray) -> "Lines":
        def sel(a):
            return None if a is None else np.asarray(a)[mask]
        return Lines(self.iso, self.resource_id, self.settlement_point, self.charge_type,
                     self.rule, self.start_us[mask], self.minutes, self.quantity_wh12[mask],
                     self.price[mask], self.sign, sel(self.metered_wh12), sel(self.da_wh12),
                     sel(self.instructed_wh12), sel(self.amount12))


def _opt(a: np.ndarray | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.int64()) if a is None else pa.array(np.asarray(a, np.int64), pa.int64())


def to_table(blocks: list[Lines]) -> pa.Table:
    """The ``shadow`` table of ``blocks``, sorted by (charge_type, resource_id, interval)."""
    parts = []
    for b in blocks:
        n = len(b)
        if n == 0:
            continue
        day = local_fields(b.start_us, ISO_TIMEZONES[b.iso]).day.astype(np.int32)
        parts.append(pa.table({
            "iso": pa.array([b.iso] * n, pa.string()),
            "resource_id": pa.array([b.resource_id] * n, pa.string()),
            "settlement_point": pa.array([b.settlement_point] * n, pa.string()),
            "charge_type": pa.array([b.charge_type] * n, pa.string()),
            "operating_date": pa.array(day, pa.int32()).cast(pa.date32()),
            "interval_start_utc": pa.array(b.start_us, pa.int64()).cast(SHADOW_SCHEMA.field(
                "interval_start_utc").type),
            "interval_minutes": pa.array(np.full(n, b.minutes, np.int16), pa.int16()),
            "metered_wh12": _opt(b.metered_wh12, n),
            "da_wh12": _opt(b.da_wh12, n),
            "instructed_wh12": _opt(b.instructed_wh12, n),
            "quantity_wh12": pa.array(np.asarray(b.quantity_wh12, np.int64), pa.int64()),
            "price_microusd_per_mwh": pa.array(np.asarray(b.price, np.int64), pa.int64()),
            "amount_cents": pa.array(b.cents, pa.int64()),
            "rule": pa.array([b.rule] * n, pa.string()),
        }, schema=SHADOW_SCHEMA))
    if not parts:
        return SHADOW_SCHEMA.empty_table()
    return sort_lines(pa.concat_tables(parts))


def sort_lines(t: pa.Table) -> pa.Table:
    """Shadow lines in their one order: (charge_type, resource_id, interval_start_utc)."""
    order = pc.sort_indices(t, sort_keys=[("charge_type", "ascending"), ("resource_id", "ascending"),
                                          ("interval_start_utc", "ascending")])
    return t.take(order).combine_chunks()


__all__ = ["Lines", "to_table", "sort_lines"]
