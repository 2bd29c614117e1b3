"""Reader of ERCOT settlement extract interval data, the native layout (``m2c ingest
statements``, detected by its header).

ERCOT publishes its settlement extracts with a DDL / XSD (Settlements Extracts User
Guide §2.1-2.2, seen as a table of contents); bill determinant values per operating
day are recorder-style rows with one column per interval, up to 100 so that the
25-hour day fits. The column names below are this reader's; the published DDL was
**not** readable here, so they follow the documented structure, not its exact
spelling::

    OPERATINGDATE,SETTLEMENTTYPE,QSECODE,RESOURCENAME,SETTLEMENTPOINT,BILLDETERMINANT,INT001,...,INT100
    01/15/2026,INITIAL,QTEXAS,TXDC1_CC1,TXDC1_RN,RTEIAMT,-123.45,...

* ``OPERATINGDATE`` MM/DD/YYYY; ``SETTLEMENTTYPE`` INITIAL, FINAL, TRUEUP,
  RESETTLEMENT or RESETTLEMENT<n> (the statement version).
* ``BILLDETERMINANT``: an amount charge type (DAESAMT, DAEPAMT: hourly;
  RTEIAMT, BPDAMT: 15-minute) or a determinant that qualifies one (DAES, DAEP,
  DASPP hourly; RTMG, RTSPP 15-minute). Anything else is an unknown charge type.
* ``INTnnn`` the value of the n-th interval of the operating day, counted from local
  midnight in elapsed time (Central Prevailing Time): 23 / 24 / 25 hours or 92 / 96 /
  100 quarter hours. A value beyond the day's last interval is an interval outside the
  operating day (the message names line and column).

Each amount row becomes statement lines (one per non-empty interval), statement id
``ERCOT-<DAM|RTM>-<QSE>-<YYYYMMDD>``, with its quantity and price from the
determinant rows of the same day, version, QSE and resource: DAESAMT <- DAES x DASPP,
DAEPAMT <- DAEP x DASPP, RTEIAMT <- (RTMG + DAEP/4 - DAES/4) x RTSPP, BPDAMT <- RTSPP.
Amounts are USD (stored in micro-USD), quantities MWh, prices USD/MWh.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from engine.errors import ValidationError
from engine.timebase import US_PER_MINUTE, local_midnight_us
from engine.units import decimal_to_scaled

from .columns import Problems, read_csv_columns
from .rows import ReadResult
from .statements import finish_statement_rows

HEAD = ("OPERATINGDATE", "SETTLEMENTTYPE", "QSECODE", "RESOURCENAME", "SETTLEMENTPOINT",
        "BILLDETERMINANT")
INTERVALS = tuple(f"int{k:03d}" for k in range(1, 101))
AMOUNTS = {"DAESAMT": 60, "DAEPAMT": 60, "RTEIAMT": 15, "BPDAMT": 15}
DETERMINANTS = {"DAES": 60, "DAEP": 60, "DASPP": 60, "RTMG": 15, "RTSPP": 15}
PRICE_OF = {"DAESAMT": "DASPP", "DAEPAMT": "DASPP", "RTEIAMT": "RTSPP", "BPDAMT": "RTSPP"}
TZ = "America/Chicago"


def looks_like_ercot_extract(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].upper().replace(b" ", b"")
    return head.startswith(b"OPERATINGDATE,SETTLEMENTTYPE,")


def _scaled(text: str, scale: int, name: str, line: int, fld: str) -> int:
    try:
        return decimal_to_scaled(text, scale)
    except ValueError:
        raise ValidationError(f"not a number: {text!r}", file=name, line=line, field=fld) from None


def read_ercot_extract(data: bytes, name: str) -> ReadResult:
    c = read_csv_columns(data, name, tuple(h.lower() for h in HEAD), INTERVALS)
    if c.num_rows == 0:
        raise ValidationError("no data rows", file=name, line=2)
    present = [f for f in INTERVALS if f in c.columns]
    cols = {k: c.columns[k.lower()].to_pylist() for k in HEAD}
    values = [c.columns[f].to_pylist() for f in present]
    rows: dict[tuple, dict] = {}          # (date, type, qse, resource, sp) -> determinant -> row
    meta: list[tuple] = []
    for i in range(c.num_rows):
        line = c.line(i)
        det = cols["BILLDETERMINANT"][i].strip().upper()
        if det not in AMOUNTS and det not in DETERMINANTS:
            raise ValidationError(f"unknown charge type {det!r}: the ERCOT rule sets settle "
                                  f"{', '.join(sorted(AMOUNTS))} (determinants "
                                  f"{', '.join(sorted(DETERMINANTS))})",
                                  file=name, line=line, field="BILLDETERMINANT")
        try:
            mm, dd, yyyy = cols["OPERATINGDATE"][i].strip().split("/")
            if len(yyyy) != 4:
                raise ValueError
            day = date(int(yyyy), int(mm), int(dd))
        except ValueError:
            raise ValidationError(f"not a date MM/DD/YYYY: {cols['OPERATINGDATE'][i]!r}",
                                  file=name, line=line, field="OPERATINGDATE") from None
        minutes = AMOUNTS.get(det) or DETERMINANTS[det]
        start = local_midnight_us(day, TZ)
        n = (local_midnight_us(day + timedelta(days=1), TZ) - start) // (minutes * US_PER_MINUTE)
        key = (day, cols["SETTLEMENTTYPE"][i].strip(), cols["QSECODE"][i].strip(),
               cols["RESOURCENAME"][i].strip(), cols["SETTLEMENTPOINT"][i].strip())
        vals: dict[int, str] = {}
        for f, col in zip(present, values):
            v = col[i].strip()
            if not v:
                continue
            k = int(f[3:])
            if k > n:
                raise ValidationError(f"interval {k} is outside operating day {day.isoformat()}, "
                                      f"which has {n} {minutes}-minute intervals (Central "
                                      f"Prevailing Time)", file=name, line=line, field=f.upper())
            vals[k] = v
        entry = rows.setdefault(key, {})
        if det in entry:
            raise ValidationError(f"duplicate line: {det} for {day.isoformat()} "
                                  f"{key[1]} {key[2]} {key[3]}; first at line {entry[det][0]}",
                                  file=name, line=line, field="BILLDETERMINANT")
        entry[det] = (line, vals, start, minutes)
        if det in AMOUNTS:
            meta.append((key, det))
    out: dict[str, list] = {k: [] for k in ("iso", "statement_id", "version", "operating_date",
                                            "charge_type", "resource_id", "interval_start_utc",
                                            "interval_minutes", "energy_wh",
                                            "price_microusd_per_mwh", "amount_microusd")}
    lines: list[int] = []
    for key, det in meta:
        day, stype, qse, resource, _sp = key
        entry = rows[key]
        line, vals, start, minutes = entry[det]
        price_row = entry.get(PRICE_OF[det])
        market = "DAM" if minutes == 60 else "RTM"
        for k in sorted(vals):
            fld = f"INT{k:03d}"
            out["iso"].append("ERCOT")
            out["statement_id"].append(f"ERCOT-{market}-{qse}-{day.strftime('%Y%m%d')}")
            out["version"].append(stype)
            out["operating_date"].append(day)
            out["charge_type"].append(det)
            out["resource_id"].append(resource)
            out["interval_start_utc"].append(start + (k - 1) * minutes * US_PER_MINUTE)
            out["interval_minutes"].append(minutes)
            out["amount_microusd"].append(_scaled(vals[k], 10**6, name, line, fld))
            price = None
            if price_row is not None and k in price_row[1]:
                price = _scaled(price_row[1][k], 10**6, name, price_row[0], fld)
            out["price_microusd_per_mwh"].append(price)
            out["energy_wh"].append(_quantity(entry, det, k, name))
            lines.append(line)
    if not lines:
        raise ValidationError("no amount rows (DAESAMT, DAEPAMT, RTEIAMT, BPDAMT)", file=name)
    cols_out = {
        "iso": pa.array(out["iso"], pa.string()),
        "statement_id": pa.array(out["statement_id"], pa.string()),
        "version": pa.array(out["version"], pa.string()),
        "operating_date": pa.array(out["operating_date"], pa.date32()),
        "charge_type": pa.array(out["charge_type"], pa.string()),
        "resource_id": pa.array(out["resource_id"], pa.string()),
        "interval_start_utc": pa.array(out["interval_start_utc"], pa.int64()).cast(
            pa.timestamp("us", tz="UTC")),
        "interval_minutes": pa.array(out["interval_minutes"], pa.int16()),
        "energy_wh": pa.array(out["energy_wh"], pa.int64()),
        "price_microusd_per_mwh": pa.array(out["price_microusd_per_mwh"], pa.int64()),
        "amount_microusd": pa.array(out["amount_microusd"], pa.int64()),
    }
    fields = {"version": "SETTLEMENTTYPE", "charge_type": "BILLDETERMINANT",
              "interval_start": "INT"}
    table = finish_statement_rows(cols_out, np.asarray(lines, np.int64), name, Problems(name), fields)
    return ReadResult(table, "ercot-extract")


def _quantity(entry: dict, det: str, k: int, name: str) -> int | None:
    """The line's quantity in Wh from the determinant rows, or None."""
    def wh(d: str, idx: int) -> int | None:
        row = entry.get(d)
        if row is None or idx not in row[1]:
            return None
        return _scaled(row[1][idx], 10**6, name, row[0], f"INT{idx:03d}")
    if det in ("DAESAMT", "DAEPAMT"):
        return wh("DAES" if det == "DAESAMT" else "DAEP", k)
    if det == "RTEIAMT":
        rtmg = wh("RTMG", k)
        if rtmg is None:
            return None
        hour = (k - 1) // 4 + 1
        daes, daep = wh("DAES", hour) or 0, wh("DAEP", hour) or 0
        if (daes - daep) % 4:
            return None                    # not a whole Wh per quarter hour
        return rtmg + (daep - daes) // 4
    return None


__all__ = ["read_ercot_extract", "looks_like_ercot_extract"]
