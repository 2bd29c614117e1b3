"""Reader of the canonical ISO awards CSV (``m2c ingest awards``).

One row per resource, product and interval::

    iso,resource_id,product,interval_start,interval_minutes,mw,price_usd_per_mwh
    ERCOT,TXDC1_CC1,da_sale,2026-01-15T06:00:00Z,60,50,30.00
    ERCOT,TXDC1_CC1,base_point,2026-01-15T06:00:00Z,5,48.5,

* ``iso``: ERCOT, PJM or CAISO. ``resource_id``: a resource of that ISO in the site
  registry's ``market.resources`` (checked by ``storage.ingest``).
* ``product`` (``engine.market.inputs``): ``da_sale`` / ``da_purchase`` (day-ahead
  energy sold / bought, MW >= 0), ``fmm`` / ``rtd`` (CAISO schedules, signed MW),
  ``base_point`` (ERCOT SCED base point, signed MW); > 0 is injection.
* ``interval_start`` ISO 8601 with an offset; ``interval_minutes`` 5, 15 or 60 (the
  time the MW are held); the start on that grid.
* ``mw`` a decimal, stored exactly in W (6 decimal places of MW); optional
  ``price_usd_per_mwh`` the award's cleared price (stored, not used by the shadow
  settlement, which prices at the published settlement point price).

A duplicate key (iso, resource, product, interval_start) in one file is an error.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import ValidationError
from engine.market.inputs import PRODUCTS
from engine.market.resources import ISOS
from engine.timebase import US_PER_MINUTE

from .columns import (Problems, check_one_of, check_unique, first_row, interval_minutes,
                      read_csv_columns, require_nonempty, scaled_decimal, utc_timestamps)
from .rows import AWARDS_ROWS_SCHEMA, ReadResult

REQUIRED = ("iso", "resource_id", "product", "interval_start", "interval_minutes", "mw")
OPTIONAL = ("price_usd_per_mwh",)
AWARD_MINUTES = (5, 15, 60)


def read_awards_csv(data: bytes, name: str) -> ReadResult:
    c = read_csv_columns(data, name, REQUIRED, OPTIONAL)
    if c.num_rows == 0:
        raise ValidationError("no data rows", file=name, line=2)
    problems = Problems(name)
    line_of = c.line
    for f in ("iso", "resource_id", "product"):
        require_nonempty(c.columns[f], f, problems, line_of)
    iso = pc.utf8_upper(c.columns["iso"])
    check_one_of(iso, ISOS, "iso", problems, line_of)
    product = pc.utf8_lower(c.columns["product"])
    check_one_of(product, PRODUCTS, "product", problems, line_of)
    ts = utc_timestamps(c.columns["interval_start"], "interval_start", problems, line_of)
    minutes = interval_minutes(c.columns["interval_minutes"], "interval_minutes", problems, line_of)
    if minutes is not None:
        check_one_of(pc.cast(minutes, pa.string()), [str(m) for m in AWARD_MINUTES],
                     "interval_minutes", problems, line_of)
    power = scaled_decimal(c.columns["mw"], 6, "mw", problems, line_of)
    price = (scaled_decimal(c.columns["price_usd_per_mwh"], 6, "price_usd_per_mwh", problems,
                            line_of, allow_empty=True)
             if "price_usd_per_mwh" in c.columns else pa.nulls(c.num_rows, pa.int64()))
    problems.raise_if_any()
    assert ts is not None and minutes is not None and power is not None
    us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    mins = minutes.to_numpy(zero_copy_only=False).astype(np.int64)
    row = first_row(pa.array(us % (mins * US_PER_MINUTE) != 0))
    if row is not None:
        problems.add(line_of(row), "interval_start", f"{c.columns['interval_start'][row].as_py()} "
                     f"is not on the {mins[row]}-minute grid")
    one_sided = pc.is_in(product, value_set=pa.array(["da_sale", "da_purchase"]))
    row = first_row(pc.and_(one_sided, pc.less(power, 0)))
    if row is not None:
        problems.add(line_of(row), "mw", f"{product[row].as_py()} is MW >= 0 (sold or bought); "
                     f"got {c.columns['mw'][row].as_py()}")
    problems.raise_if_any()
    table = pa.table({"iso": iso, "resource_id": c.columns["resource_id"], "product": product,
                      "interval_start_utc": ts, "interval_minutes": minutes, "power_w": power,
                      "price_microusd_per_mwh": price, "line": pa.array(c.lines, pa.int64())},
                     schema=AWARDS_ROWS_SCHEMA)
    check_unique(table, ["iso", "resource_id", "product", "interval_start_utc"], c.lines, problems,
                 "award (same iso, resource_id, product and interval_start)")
    problems.raise_if_any()
    return ReadResult(table, "csv")


__all__ = ["read_awards_csv", "AWARD_MINUTES"]
