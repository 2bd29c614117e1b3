"""Reader of the grid-factor CSV (``m2c ingest grid-factors``): hourly factors per balancing authority.

One row per balancing authority and UTC hour::

    balancing_authority,interval_start,co2e_kg_per_mwh,cfe_share,residual_co2e_kg_per_mwh,source
    ERCO,2026-10-01T05:00:00Z,398.2514,0.3120,431.9,OGE v0.5.0 consumed for_electricity_adjusted
    ERCO,2026-10-01T06:00:00Z,401.77,0.2990,,OGE v0.5.0 consumed for_electricity_adjusted

=============================  ===========================================================
column                         meaning
=============================  ===========================================================
``balancing_authority``        EIA code (``engine.carbon.balancing``: ERCO, PJM, CISO, ...)
``interval_start``             the hour's start, ISO 8601 with an offset, on the hour
``interval_minutes``           optional; 60 if given (factors are hourly)
``co2e_kg_per_mwh``            location-based (grid-average) factor, kg CO2e/MWh, >= 0; or
``co2e_lb_per_mwh``            the same in lb/MWh (x 0.45359237 kg/lb, exact), one of the two
``cfe_share``                  the grid's carbon-free share of the hour, 0..1
``residual_co2e_kg_per_mwh``   optional residual-mix factor (market-based Scope 2), >= 0
                               (or ``residual_co2e_lb_per_mwh``); empty: none for that hour
``source``                     optional text: dataset, version, column
=============================  ===========================================================

Values are stored exactly as kg/MWh x 1e6 (mg/MWh) and the share as millionths; more
digits than that are rounded once, half-even, when read (the input quantisation of
``engine.units``); lb/MWh are read to 1e-6 lb and converted with one half-even rounding.

**Mapping an export onto it.** Open Grid Emissions (Singularity Energy; columns
``{value}_{adjustment}_{unit}``, hourly BA files with ``datetime_utc``): ``interval_start`` =
``datetime_utc``; ``co2e_lb_per_mwh`` (US units) or ``co2e_kg_per_mwh`` (metric files) =
``consumed_co2e_rate_lb_per_mwh_for_electricity_adjusted`` (the consumption-based rate for
carbon accounting, adjusted for CHP and biomass; the ``generated_`` columns are
production-based); ``cfe_share`` = the carbon-free fuels' share of the BA's hourly fuel mix
(nuclear, hydro, wind, solar, geothermal) divided by the total: OGE's fuel-mix file
columns for this were not confirmed here. EPA eGRID (annual, BA sheet ``BA<yy>``:
``BACODE``, ``BAC2ERTA`` = annual CO2e total output emission rate, lb/MWh; confirmed from
OGE's eGRID loader): one row per hour of the year with ``balancing_authority`` = ``BACODE``
and ``co2e_lb_per_mwh`` = ``BAC2ERTA``; eGRID's resource-mix percentage columns for the
carbon-free share were not confirmed here. Users report negative factors in some areas of
OGE (issue #214): such rows are refused here, not clipped.

Refused, naming file, line and field (nothing is ingested): an unknown balancing
authority, a start off the hour or not hourly, a negative or implausible factor (> 5,000
kg/MWh), a share outside 0..1, the same hour twice, and **a missing hour**: each balancing
authority's hours in a file must run without a gap from its first hour to its last.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.carbon.balancing import BALANCING_AUTHORITIES
from engine.errors import ValidationError
from engine.schema import GRID_FACTORS_SCHEMA
from engine.timebase import US_PER_HOUR, from_us

from .columns import (Problems, check_unique, first_row, interval_minutes, read_csv_columns,
                      require_nonempty, scaled_decimal, utc_timestamps)
from .rows import PROVENANCE_AND_PARTITION, ReadResult

REQUIRED = ("balancing_authority", "interval_start", "cfe_share")
OPTIONAL = ("interval_minutes", "co2e_kg_per_mwh", "co2e_lb_per_mwh", "residual_co2e_kg_per_mwh",
            "residual_co2e_lb_per_mwh", "source")
#: the largest factor accepted, kg CO2e/MWh (coal plants emit about 1,000)
MAX_FACTOR_KG_PER_MWH = 5000
_MG = 10**6
#: mg per (1e-6 lb): 0.45359237 kg/lb x 1e6 mg/kg x 1e-6 = 0.45359237 -> 45359237 / 1e8
_LB_NUM, _LB_DEN = 45359237, 10**8

GRID_FACTORS_ROWS_SCHEMA = pa.schema(
    [f for f in GRID_FACTORS_SCHEMA if f.name not in PROVENANCE_AND_PARTITION]
    + [pa.field("line", pa.int64(), nullable=False, metadata={"description": "1-based source line"})])


def _lb_to_mg(micro_lb: pa.Array) -> pa.Array:
    """1e-6 lb/MWh -> mg/MWh, half-even (nulls kept)."""
    v = micro_lb.to_numpy(zero_copy_only=False)
    valid = pc.is_valid(micro_lb).to_numpy(zero_copy_only=False)
    x = np.where(valid, v, 0).astype(np.int64) * _LB_NUM
    q, r = np.divmod(x, _LB_DEN)
    up = (2 * r > _LB_DEN) | ((2 * r == _LB_DEN) & (q % 2 == 1))
    return pa.array(q + up, pa.int64(), mask=~valid)


def _factor(c, kg: str, lb: str, problems: Problems, line_of, *, required: bool) -> pa.Array | None:
    has_kg, has_lb = kg in c.columns, lb in c.columns
    if has_kg and has_lb:
        problems.add(1, lb, f"give {kg} or {lb}, not both")
        return None
    if not (has_kg or has_lb):
        if required:
            problems.add(1, kg, f"missing column {kg} (or {lb})")
            return None
        return pa.nulls(c.num_rows, pa.int64())
    if has_kg:
        return scaled_decimal(c.columns[kg], 6, kg, problems, line_of, allow_empty=not required)
    micro = scaled_decimal(c.columns[lb], 6, lb, problems, line_of, allow_empty=not required)
    return None if micro is None else _lb_to_mg(micro)


def read_grid_factors_csv(data: bytes, name: str) -> ReadResult:
    c = read_csv_columns(data, name, REQUIRED, OPTIONAL)
    if c.num_rows == 0:
        raise ValidationError("no data rows", file=name, line=2)
    problems = Problems(name)
    line_of = c.line
    ba = pc.utf8_upper(c.columns["balancing_authority"])
    require_nonempty(ba, "balancing_authority", problems, line_of)
    row = first_row(pc.invert(pc.is_in(ba, value_set=pa.array(sorted(BALANCING_AUTHORITIES)))))
    if row is not None:
        problems.add(line_of(row), "balancing_authority",
                     f"unknown balancing authority {ba[row].as_py()!r}: not an EIA balancing authority code "
                     "(ERCO, PJM, CISO, MISO, ...: engine.carbon.balancing)")
    ts = utc_timestamps(c.columns["interval_start"], "interval_start", problems, line_of)
    if "interval_minutes" in c.columns:
        minutes = interval_minutes(c.columns["interval_minutes"], "interval_minutes", problems, line_of)
        if minutes is not None:
            row = first_row(pc.not_equal(minutes, 60))
            if row is not None:
                problems.add(line_of(row), "interval_minutes",
                             f"grid factors are hourly: interval_minutes must be 60, got {minutes[row].as_py()}")
    co2e = _factor(c, "co2e_kg_per_mwh", "co2e_lb_per_mwh", problems, line_of, required=True)
    residual = _factor(c, "residual_co2e_kg_per_mwh", "residual_co2e_lb_per_mwh", problems, line_of,
                       required=False)
    share = scaled_decimal(c.columns["cfe_share"], 6, "cfe_share", problems, line_of)
    problems.raise_if_any()
    assert ts is not None and co2e is not None and residual is not None and share is not None
    for col, fld in ((co2e, "co2e_kg_per_mwh"), (residual, "residual_co2e_kg_per_mwh")):
        fld = fld if fld in c.columns else fld.replace("_kg_", "_lb_")
        row = first_row(pc.less(col, 0))
        if row is not None:
            problems.add(line_of(row), fld, f"a negative emission factor ({c.columns[fld][row].as_py()}) is "
                         "refused: grid factors are >= 0 (clip or correct the source, do not ingest it)")
        row = first_row(pc.greater(col, MAX_FACTOR_KG_PER_MWH * _MG))
        if row is not None:
            problems.add(line_of(row), fld, f"{c.columns[fld][row].as_py()} is above "
                         f"{MAX_FACTOR_KG_PER_MWH:,} kg CO2e/MWh: check the unit")
    row = first_row(pc.or_(pc.less(share, 0), pc.greater(share, _MG)))
    if row is not None:
        problems.add(line_of(row), "cfe_share", f"a share is 0..1, got {c.columns['cfe_share'][row].as_py()}")
    us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    row = first_row(pa.array(us % US_PER_HOUR != 0))
    if row is not None:
        problems.add(line_of(row), "interval_start",
                     f"{c.columns['interval_start'][row].as_py()} is not on the hour (grid factors are hourly, UTC)")
    problems.raise_if_any()
    source = (pc.if_else(pc.equal(c.columns["source"], ""), pa.scalar(None, pa.string()), c.columns["source"])
              if "source" in c.columns else pa.nulls(c.num_rows, pa.string()))
    table = pa.table({"balancing_authority": ba, "interval_start_utc": ts,
                      "interval_minutes": pa.array(np.full(c.num_rows, 60, np.int16)),
                      "co2e_mg_per_mwh": co2e, "residual_co2e_mg_per_mwh": residual, "cfe_ppm": share,
                      "source": source, "line": pa.array(c.lines, pa.int64())}, schema=GRID_FACTORS_ROWS_SCHEMA)
    check_unique(table, ["balancing_authority", "interval_start_utc"], c.lines, problems,
                 "hour (same balancing_authority and interval_start)")
    problems.raise_if_any()
    _check_no_missing_hour(table, c.lines, problems)
    problems.raise_if_any()
    return ReadResult(table, "csv")


def _check_no_missing_hour(table: pa.Table, lines: np.ndarray, problems: Problems) -> None:
    """Each balancing authority's hours run without a gap from its first to its last."""
    ba = table.column("balancing_authority").to_pylist()
    us = table.column("interval_start_utc").cast(pa.int64()).to_numpy(zero_copy_only=False)
    codes = {b: i for i, b in enumerate(sorted(set(ba)))}
    key = np.array([codes[b] for b in ba], dtype=np.int64)
    order = np.lexsort((us, key))
    k, t = key[order], us[order]
    gap = np.flatnonzero((k[1:] == k[:-1]) & (t[1:] - t[:-1] != US_PER_HOUR))
    if gap.size:
        i = int(gap[0])
        missing = from_us(int(t[i]) + US_PER_HOUR).strftime("%Y-%m-%dT%H:%MZ")
        after = int(lines[order[i + 1]])
        problems.add(after, "interval_start",
                     f"missing hour {missing} for {ba[order[i]]} (between line {int(lines[order[i]])} and "
                     f"line {after}): a grid-factor file covers every hour of its range")


__all__ = ["read_grid_factors_csv", "GRID_FACTORS_ROWS_SCHEMA", "MAX_FACTOR_KG_PER_MWH"]
