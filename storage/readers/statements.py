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
    # every check works on the distinct values (a statement has a few versions, ISOs,
    # charge types and days over up to millions of lines): no Python object per line
    venc = pc.dictionary_encode(cols["version"])
    vcodes = venc.indices.to_numpy(zero_copy_only=False)
    vlabels, vranks = [], []
    for k, raw in enumerate(venc.dictionary.to_pylist()):
        label = normalise_version(raw)
        try:
            vranks.append(version_rank(label))
        except ValueError as exc:
            problems.add(line_of(int(np.flatnonzero(vcodes == k)[0])), fields["version"], str(exc))
            problems.raise_if_any()
        vlabels.append(label)
    labels = pa.array(vlabels, pa.string()).take(venc.indices)
    ranks = np.asarray(vranks, dtype=np.int32)[vcodes] if vranks else np.zeros(0, np.int32)
    isos = cols["iso"]
    bad = pa.array(np.zeros(len(lines), dtype=bool))
    for iso in pc.unique(isos).to_pylist():
        if iso in ISOS:
            bad = pc.or_(bad, pc.and_(pc.equal(isos, iso), pc.invert(pc.is_in(
                cols["charge_type"], value_set=pa.array(charge_types(iso))))))
    row = first_row(bad)
    if row is not None:
        iso = isos[row].as_py()
        problems.add(line_of(row), fields["charge_type"],
                     f"unknown charge type {cols['charge_type'][row].as_py()!r} for {iso}; the "
                     f"rule sets settle {', '.join(sorted(charge_types(iso)))}")
    days = cols["operating_date"].cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    us = cols["interval_start_utc"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    mins = cols["interval_minutes"].to_numpy(zero_copy_only=False).astype(np.int64)
    lo = np.zeros(len(lines), np.int64)
    hi = np.zeros(len(lines), np.int64)
    iso_np = pc.fill_null(isos, "").to_numpy(zero_copy_only=False)
    for iso in pc.unique(isos).to_pylist():
        sel = iso_np == iso
        tz = ISO_TIMEZONES.get(iso, "UTC")
        uniq, inv = np.unique(days[sel], return_inverse=True)
        b0 = np.array([local_midnight_us(date(1970, 1, 1) + timedelta(days=int(d)), tz) for d in uniq],
                      dtype=np.int64)
        b1 = np.array([local_midnight_us(date(1970, 1, 1) + timedelta(days=int(d) + 1), tz)
                       for d in uniq], dtype=np.int64)
        lo[sel], hi[sel] = b0[inv], b1[inv]
    outside = (us < lo) | (us + mins * US_PER_MINUTE > hi)
    row = first_row(pa.array(outside))
    if row is not None:
        problems.add(line_of(row), fields["interval_start"],
                     f"interval {cols['interval_start_utc'][row].as_py().isoformat()} "
                     f"({mins[row]} min) is outside operating day "
                     f"{cols['operating_date'][row].as_py()} ({isos[row].as_py()} prevailing time)")
    problems.raise_if_any()
    table = pa.table({"iso": cols["iso"], "statement_id": cols["statement_id"],
                      "version": labels, "version_rank": pa.array(ranks, pa.int32()),
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
