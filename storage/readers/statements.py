"""Reader of the canonical ISO settlement statement CSV (``m2c ingest statements``).

One row per statement version, charge type, resource and settlement interval::

    iso,statement_id,version,operating_date,charge_type,resource_id,interval_start,interval_minutes,quantity_mwh,price_usd_per_mwh,amount_usd
    ERCOT,ERCOT-DAM-QTEXAS-20260115,initial,2026-01-15,DAESAMT,TXDC1_CC1,2026-01-15T06:00:00Z,60,50,30.00,-1500.00

* ``version``: initial, final, true_up or resettlement_<n> (ERCOT's INITIAL, FINAL,
  TRUEUP, RESETTLEMENT also accepted).
* ``charge_type``: one the ISO's rule sets settle (``engine.market.rules``); another
  is an error (it would never reconcile).
* ``operating_date`` the ISO operating day; each interval must lie inside it, in the
  ISO's prevailing time (ERCOT Central, PJM Eastern, CAISO Pacific): a 25-hour day
  has 100 fifteen-minute intervals, a 23-hour day 92.
* ``quantity_mwh`` and ``price_usd_per_mwh`` the line's bill determinants (optional,
  may be empty); ``amount_usd`` the amount, > 0 a charge to the participant, < 0 a
  payment to it (stored in micro-USD).

A duplicate line (same statement, version, charge type, resource and interval) is an
error. Checks shared with the ERCOT extract reader: :func:`finish_statement_rows`.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import ValidationError
from engine.market.reconcile import version_rank
from engine.market.resources import ISO_TIMEZONES, ISOS
from engine.market.rules import charge_types
from engine.timebase import US_PER_MINUTE, local_midnight_us

from .columns import (Problems, check_one_of, check_unique, first_row, interval_minutes, iso_dates,
                      read_csv_columns, require_nonempty, scaled_decimal, utc_timestamps)
from .rows import STATEMENTS_ROWS_SCHEMA, ReadResult

REQUIRED = ("iso", "statement_id", "version", "operating_date", "charge_type", "resource_id",
            "interval_start", "interval_minutes", "amount_usd")
OPTIONAL = ("quantity_mwh", "price_usd_per_mwh")
ERCOT_VERSIONS = {"INITIAL": "initial", "FINAL": "final", "TRUEUP": "true_up",
                  "TRUE_UP": "true_up", "RESETTLEMENT": "resettlement_1"}


def normalise_version(v: str) -> str:
    u = v.strip().upper()
    if u in ERCOT_VERSIONS:
        return ERCOT_VERSIONS[u]
    if u.startswith("RESETTLEMENT") and u[len("RESETTLEMENT"):].lstrip("_").isdigit():
        return f"resettlement_{int(u[len('RESETTLEMENT'):].lstrip('_'))}"
    return v.strip().lower()


def finish_statement_rows(cols: dict[str, pa.Array], lines: np.ndarray, name: str,
                          problems: Problems, fields: dict[str, str]) -> pa.Table:
    """Validated statement rows from converted columns: version names, charge types of
    the ISO, intervals inside the operating day, no duplicate line. ``fields`` names
    the file's field for each check (``charge_type``, ``interval_start``, ...)."""
    def line_of(row: int) -> int:
        return int(lines[row])
    n = len(lines)
    labels = [normalise_version(v) for v in cols["version"].to_pylist()]
    ranks = np.zeros(n, dtype=np.int32)
    cache: dict[str, int] = {}
    for i, v in enumerate(labels):
        if v not in cache:
            try:
                cache[v] = version_rank(v)
            except ValueError as exc:
                problems.add(line_of(i), fields["version"], str(exc))
                problems.raise_if_any()
        ranks[i] = cache[v]
    isos = cols["iso"].to_pylist()
    cts = cols["charge_type"].to_pylist()
    known = {iso: set(charge_types(iso)) for iso in set(isos) if iso in ISOS}
    for i, (iso, ct) in enumerate(zip(isos, cts)):
        if iso in known and ct not in known[iso]:
            problems.add(line_of(i), fields["charge_type"],
                         f"unknown charge type {ct!r} for {iso}; the rule sets settle "
                         f"{', '.join(sorted(known[iso]))}")
            break
    days = cols["operating_date"].cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    us = cols["interval_start_utc"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    mins = cols["interval_minutes"].to_numpy(zero_copy_only=False).astype(np.int64)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    bounds: dict[tuple[str, int], tuple[int, int]] = {}
    for i, (iso, d) in enumerate(zip(isos, days.tolist())):
        key = (iso, d)
        if key not in bounds:
            day = date(1970, 1, 1) + timedelta(days=d)
            tz = ISO_TIMEZONES.get(iso, "UTC")
            bounds[key] = (local_midnight_us(day, tz), local_midnight_us(day + timedelta(days=1), tz))
        lo[i], hi[i] = bounds[key]
    outside = (us < lo) | (us + mins * US_PER_MINUTE > hi)
    row = first_row(pa.array(outside))
    if row is not None:
        problems.add(line_of(row), fields["interval_start"],
                     f"interval {cols['interval_start_utc'][row].as_py().isoformat()} "
                     f"({mins[row]} min) is outside operating day "
                     f"{cols['operating_date'][row].as_py()} ({isos[row]} prevailing time)")
    problems.raise_if_any()
    table = pa.table({"iso": cols["iso"], "statement_id": cols["statement_id"],
                      "version": pa.array(labels, pa.string()), "version_rank": pa.array(ranks),
                      "operating_date": cols["operating_date"], "charge_type": cols["charge_type"],
                      "resource_id": cols["resource_id"],
                      "interval_start_utc": cols["interval_start_utc"],
                      "interval_minutes": cols["interval_minutes"], "energy_wh": cols["energy_wh"],
                      "price_microusd_per_mwh": cols["price_microusd_per_mwh"],
                      "amount_microusd": cols["amount_microusd"],
                      "line": pa.array(lines, pa.int64())}, schema=STATEMENTS_ROWS_SCHEMA)
    check_unique(table, ["iso", "statement_id", "version", "charge_type", "resource_id",
                         "interval_start_utc"], lines, problems,
                 "statement line (same statement, version, charge type, resource and interval)")
    problems.raise_if_any()
    return table


def read_statements_csv(data: bytes, name: str) -> ReadResult:
    c = read_csv_columns(data, name, REQUIRED, OPTIONAL)
    if c.num_rows == 0:
        raise ValidationError("no data rows", file=name, line=2)
    problems = Problems(name)
    line_of = c.line
    for f in ("iso", "statement_id", "version", "charge_type", "resource_id"):
        require_nonempty(c.columns[f], f, problems, line_of)
    iso = pc.utf8_upper(c.columns["iso"])
    check_one_of(iso, ISOS, "iso", problems, line_of)
    day = iso_dates(c.columns["operating_date"], "operating_date", problems, line_of)
    ts = utc_timestamps(c.columns["interval_start"], "interval_start", problems, line_of)
    minutes = interval_minutes(c.columns["interval_minutes"], "interval_minutes", problems, line_of)
    energy = (scaled_decimal(c.columns["quantity_mwh"], 6, "quantity_mwh", problems, line_of,
                             allow_empty=True)
              if "quantity_mwh" in c.columns else pa.nulls(c.num_rows, pa.int64()))
    price = (scaled_decimal(c.columns["price_usd_per_mwh"], 6, "price_usd_per_mwh", problems,
                            line_of, allow_empty=True)
             if "price_usd_per_mwh" in c.columns else pa.nulls(c.num_rows, pa.int64()))
    amount = scaled_decimal(c.columns["amount_usd"], 6, "amount_usd", problems, line_of)
    problems.raise_if_any()
    cols = {"iso": iso, "statement_id": c.columns["statement_id"], "version": c.columns["version"],
            "operating_date": day, "charge_type": pc.utf8_upper(c.columns["charge_type"]),
            "resource_id": c.columns["resource_id"], "interval_start_utc": ts,
            "interval_minutes": minutes, "energy_wh": energy, "price_microusd_per_mwh": price,
            "amount_microusd": amount}
    fields = {"version": "version", "charge_type": "charge_type", "interval_start": "interval_start"}
    return ReadResult(finish_statement_rows(cols, c.lines, name, problems, fields), "csv")


__all__ = ["read_statements_csv", "finish_statement_rows", "normalise_version"]
