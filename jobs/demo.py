"""Deterministic demo portfolio: sites, meter data, market prices and indices.

``build_portfolio(sites, months, minutes, seed, end_period)`` is pure: the same
arguments give the same numbers and, through ``write_demo_files``, the same file
bytes (so re-ingesting the files is recognised as "already ingested"). The
physics is in ``jobs.demo_sites``, the market in ``jobs.demo_market``.

The meter data covers ``months`` full **site-local** months ending with
``end_period`` and carries a few problems for VEE to find, all on the first site
in ``end_period`` (listed in ``DemoPortfolio.injected``):

* a 30-minute gap on the load channel ``dc`` (day 10, 14:00 local),
* a 3-hour gap on the solar channel ``pv1`` (day 17, 10:00-13:00 local),
* a spike on ``dc`` (day 22, 19:00 local, six times the value),
* a duplicate row on ``imp`` (day 5, 08:00 local; an exact copy), delivered as a
  separate "resend" file (``DemoPortfolio.resend_wh``): ingest rejects the same key
  twice within one call, so the resend is ingested on its own and reported as
  unchanged; VEE sees the duplicate when it is given the raw rows of both.

Files written by ``write_demo_files`` (the shapes of docs/interfaces "Input files")::

    sites.yaml
    meter/<site_id>_<YYYY-MM>.csv       site_id,channel,interval_start,interval_minutes,kwh,quality
    meter-resend/<site_id>_<YYYY-MM>.csv  the same shape: rows sent a second time
    prices/<iso>_<DA|RT>.csv            iso,node,market_run,interval_start,interval_minutes,
                                        lmp_usd_per_mwh,energy_usd_per_mwh,
                                        congestion_usd_per_mwh,loss_usd_per_mwh
    index/HENRY_HUB.csv, index/CPI_U.csv  index,period_start,value,unit
    contracts/<contract_id>.yaml        (none yet: ``DemoPortfolio.contracts`` is the hook)
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import yaml

from engine.schema import UTC_TS
from engine.sites import Site, parse_sites
from engine.timebase import (US_PER_MINUTE, interval_grid_us, local_month_bounds_us,
                             local_month_labels, next_period, parse_period, periods_between,
                             to_us)

from .demo_market import (ISO_HUB, ISO_TIMEZONE, PriceSeries, cpi_u, gas_at, henry_hub,
                          hub_prices, node_prices)
from .demo_sites import registry_entry, site_energy_wh, templates

METER_COLUMNS = ("site_id", "channel", "interval_start", "interval_minutes", "kwh", "quality")
PRICE_COLUMNS = ("iso", "node", "market_run", "interval_start", "interval_minutes",
                 "lmp_usd_per_mwh", "energy_usd_per_mwh", "congestion_usd_per_mwh",
                 "loss_usd_per_mwh")
INDEX_COLUMNS = ("index", "period_start", "value", "unit")
ALLOWED_MINUTES = (1, 5, 15, 30, 60)


@dataclass(frozen=True)
class InjectedProblem:
    """A problem put into the demo meter data on purpose (for VEE to find)."""
    check: str                  # gap | spike | duplicate
    site_id: str
    channel: str
    start_us: int               # UTC, inclusive
    end_us: int                 # UTC, exclusive
    detail: str


@dataclass(frozen=True, eq=False)
class DemoPortfolio:
    """The generated portfolio. Energy, prices and indices are exact integers inside;
    the ``*_table()`` methods give the canonical file shapes (decimal strings)."""
    seed: int
    minutes: int
    periods: tuple[str, ...]
    sites_doc: dict
    meter_wh: pa.Table          # site_id, channel, interval_start_utc, interval_minutes,
                                # energy_wh, quality
    resend_wh: pa.Table         # rows sent a second time (same columns)
    price_series: tuple[PriceSeries, ...]
    henry_hub: tuple[tuple[date, ...], np.ndarray]    # daily, value x 1e4 USD/MMBtu
    cpi_u: tuple[tuple[date, ...], np.ndarray]        # monthly, value x 1e3
    injected: tuple[InjectedProblem, ...]
    contracts: list[dict] = field(default_factory=list)   # hook: contract documents

    @cached_property
    def sites(self) -> dict[str, Site]:
        return parse_sites(self.sites_doc, "demo sites")

    @property
    def end_period(self) -> str:
        return self.periods[-1]

    def raw_meter_wh(self, site_id: str) -> pa.Table:
        """Every row sent for ``site_id``, resends included (what a meter head-end saw)."""
        t = pa.concat_tables([self.meter_wh, self.resend_wh])
        return t.filter(pc.equal(t.column("site_id"), site_id))

    def meter_table(self, site_id: str | None = None, period: str | None = None, *,
                    resend: bool = False) -> pa.Table:
        """Meter rows in the canonical CSV shape (``kwh`` with 3 decimals, ISO ``Z`` times)."""
        t = self.resend_wh if resend else self.meter_wh
        if site_id is not None:
            t = t.filter(pc.equal(t.column("site_id"), site_id))
        if period is not None:
            tz = self.sites[site_id].timezone if site_id else None
            if tz is None:
                raise ValueError("period needs site_id (months are site-local)")
            us = t.column("interval_start_utc").cast(pa.int64()).to_numpy()
            t = t.filter(pa.array(local_month_labels(us, tz) == period))
        us = t.column("interval_start_utc").cast(pa.int64()).to_numpy()
        return pa.table({
            "site_id": t.column("site_id"), "channel": t.column("channel"),
            "interval_start": _iso_z(us), "interval_minutes": t.column("interval_minutes"),
            "kwh": _decimal_strings(t.column("energy_wh").to_numpy(), 3),
            "quality": t.column("quality"),
        })

    def meter_csv_rows(self, site_id: str | None = None, period: str | None = None) -> list[tuple]:
        """The meter rows as tuples of strings/ints, in file order (small portfolios)."""
        t = self.meter_table(site_id, period)
        return list(zip(*(t.column(c).to_pylist() for c in METER_COLUMNS)))

    def prices_table(self, iso: str | None = None, market_run: str | None = None) -> pa.Table:
        parts = []
        for s in self.price_series:
            if (iso and s.iso != iso) or (market_run and s.market_run != market_run):
                continue
            n = s.start_us.size
            parts.append(pa.table({
                "iso": pa.array([s.iso] * n), "node": pa.array([s.node] * n),
                "market_run": pa.array([s.market_run] * n), "interval_start": _iso_z(s.start_us),
                "interval_minutes": pa.array(np.full(n, s.interval_minutes, np.int16)),
                "lmp_usd_per_mwh": _decimal_strings(s.lmp_cents, 2),
                "energy_usd_per_mwh": _decimal_strings(s.energy_cents, 2),
                "congestion_usd_per_mwh": _decimal_strings(s.congestion_cents, 2),
                "loss_usd_per_mwh": _decimal_strings(s.loss_cents, 2),
            }))
        return pa.concat_tables(parts)

    def index_table(self, index: str | None = None) -> pa.Table:
        parts = []
        for name, (days, values), places, unit in (
                ("HENRY_HUB", self.henry_hub, 4, "usd_per_mmbtu"),
                ("CPI_U", self.cpi_u, 3, "index")):
            if index and index != name:
                continue
            parts.append(pa.table({
                "index": pa.array([name] * len(days)),
                "period_start": pa.array([d.isoformat() for d in days]),
                "value": _decimal_strings(values, places),
                "unit": pa.array([unit] * len(days)),
            }))
        return pa.concat_tables(parts)


def build_portfolio(sites: int = 3, months: int = 3, minutes: int = 5, seed: int = 7,
                    end_period: str = "2026-10") -> DemoPortfolio:
    """Generate the demo portfolio (see the module docstring). Pure and deterministic."""
    if sites < 1:
        raise ValueError("sites must be >= 1")
    if months < 1:
        raise ValueError("months must be >= 1")
    if minutes not in ALLOWED_MINUTES:
        raise ValueError(f"minutes must be one of {ALLOWED_MINUTES}")
    parse_period(end_period)
    first_period = next_period(end_period, -(months - 1))
    periods = tuple(periods_between(first_period, end_period))
    tpls = templates(sites)
    sites_doc = {"sites": [registry_entry(t) for t in tpls]}
    parse_sites(sites_doc, "demo sites")               # the generator's own output must validate

    bounds = {t.site_id: (local_month_bounds_us(first_period, t.timezone)[0],
                          local_month_bounds_us(end_period, t.timezone)[1]) for t in tpls}
    isos = sorted({t.iso for t in tpls})
    # each ISO's prices cover its own local months and its sites' months, so adding a
    # site elsewhere never changes another ISO's numbers
    iso_range = {}
    for iso in isos:
        spans = [bounds[t.site_id] for t in tpls if t.iso == iso]
        spans.append((local_month_bounds_us(first_period, ISO_TIMEZONE[iso])[0],
                      local_month_bounds_us(end_period, ISO_TIMEZONE[iso])[1]))
        iso_range[iso] = (min(a for a, _ in spans), max(b for _, b in spans))

    y, m = parse_period(first_period)
    gas_first = date(y, m, 1) - timedelta(days=31)
    ey, em = parse_period(next_period(end_period))
    gas_days, gas = henry_hub(seed, gas_first, date(ey, em, 1) - timedelta(days=1))
    cy, cm = parse_period(next_period(end_period, -23))
    cpi_days, cpi = cpi_u(seed, date(cy, cm, 1), 24)

    series: list[PriceSeries] = []
    node_rt: dict[tuple[str, str], PriceSeries] = {}
    node_da: dict[tuple[str, str], PriceSeries] = {}
    for iso in isos:
        da, rt = hub_prices(seed, iso, *iso_range[iso], gas_days, gas)
        series += [da, rt]
        for node in sorted({t.node for t in tpls if t.iso == iso} - {ISO_HUB[iso]}):
            nda, nrt = node_prices(seed, da, node), node_prices(seed, rt, node)
            series += [nda, nrt]
            node_da[(iso, node)], node_rt[(iso, node)] = nda, nrt

    parts, resent = [], []
    injected: list[InjectedProblem] = []
    for i, t in enumerate(tpls):
        s, e = bounds[t.site_id]
        grid = interval_grid_us(s, e, minutes)
        wh = site_energy_wh(t, grid, minutes, seed, node_rt[(t.iso, t.node)],
                            node_da[(t.iso, t.node)], gas_at(grid, t.timezone, gas_days, gas))
        channels = [c for c in sites_doc["sites"][i]["channels"] if c in wh]
        ch = np.repeat(np.array(channels), grid.size)
        start = np.tile(grid, len(channels))
        energy = np.concatenate([wh[c] for c in channels])
        keep = np.ones(start.size, dtype=bool)
        dup = np.zeros(start.size, dtype=bool)
        if i == 0:
            keep, dup, energy, injected = _inject(t.site_id, t.timezone, end_period, minutes,
                                                  ch, start, energy)
        parts.append(_meter_rows(t.site_id, ch[keep], start[keep], energy[keep], minutes))
        resent.append(_meter_rows(t.site_id, ch[dup], start[dup], energy[dup], minutes))
    return DemoPortfolio(seed, minutes, periods, sites_doc, pa.concat_tables(parts),
                         pa.concat_tables(resent), tuple(series), (tuple(gas_days), gas),
                         (tuple(cpi_days), cpi), tuple(injected))


def _meter_rows(site_id: str, ch: np.ndarray, start: np.ndarray, energy: np.ndarray,
                minutes: int) -> pa.Table:
    return pa.table({
        "site_id": pa.array([site_id] * start.size, pa.string()),
        "channel": pa.array(ch.astype(str), pa.string()),
        "interval_start_utc": pa.array(start.view("datetime64[us]"), UTC_TS),
        "interval_minutes": pa.array(np.full(start.size, minutes, np.int16)),
        "energy_wh": pa.array(energy, pa.int64()),
        "quality": pa.array(["A"] * start.size, pa.string()),
    })


def _inject(site_id: str, tz: str, period: str, minutes: int, ch: np.ndarray,
            start: np.ndarray, energy: np.ndarray):
    """Masks (rows kept, rows resent), edited energy and the list of injected problems."""
    y, m = parse_period(period)
    zone = ZoneInfo(tz)

    def local(day: int, hour: int) -> int:
        return to_us(datetime(y, m, day, hour, tzinfo=zone))

    step = minutes * US_PER_MINUTE
    half_hour = max(30 * US_PER_MINUTE, step)          # a gap spans whole grid intervals
    problems = [
        InjectedProblem("gap", site_id, "dc", local(10, 14), local(10, 14) + half_hour,
                        "30-minute gap"),
        InjectedProblem("gap", site_id, "pv1", local(17, 10), local(17, 13), "3-hour gap"),
        InjectedProblem("spike", site_id, "dc", local(22, 19), local(22, 19) + step,
                        "spike (value x 6)"),
        InjectedProblem("duplicate", site_id, "imp", local(5, 8), local(5, 8) + step,
                        "duplicate row (sent twice)"),
    ]
    keep = np.ones(start.size, dtype=bool)
    dup = np.zeros(start.size, dtype=bool)
    for p in problems:
        hit = (ch == p.channel) & (start >= p.start_us) & (start < p.end_us)
        if p.check == "gap":
            keep &= ~hit
        elif p.check == "spike":
            energy = np.where(hit, energy * 6, energy)
        elif p.check == "duplicate":
            dup |= hit
    return keep, dup, energy, problems


def write_demo_files(portfolio: DemoPortfolio, directory: str | Path) -> dict[str, list[Path]]:
    """Write the portfolio's files under ``directory`` (see the module docstring).

    Each file is written atomically (temporary file, then rename) and its bytes
    depend only on the portfolio, so a rerun rewrites identical files.
    """
    root = Path(directory)
    out: dict[str, list[Path]] = {"sites": [], "meter": [], "meter_resend": [], "prices": [],
                                  "index": [], "contracts": []}
    out["sites"].append(_write(root / "sites.yaml",
                               yaml.safe_dump(portfolio.sites_doc, sort_keys=False).encode()))
    for site_id in portfolio.sites:
        for period in portfolio.periods:
            t = portfolio.meter_table(site_id, period)
            out["meter"].append(_write(root / "meter" / f"{site_id}_{period}.csv", _csv(t)))
            again = portfolio.meter_table(site_id, period, resend=True)
            if again.num_rows:
                out["meter_resend"].append(
                    _write(root / "meter-resend" / f"{site_id}_{period}.csv", _csv(again)))
    for iso in sorted({s.iso for s in portfolio.price_series}):
        for run in ("DA", "RT"):
            out["prices"].append(_write(root / "prices" / f"{iso}_{run}.csv",
                                        _csv(portfolio.prices_table(iso, run))))
    for name in ("HENRY_HUB", "CPI_U"):
        out["index"].append(_write(root / "index" / f"{name}.csv",
                                   _csv(portfolio.index_table(name))))
    for doc in portfolio.contracts:
        out["contracts"].append(_write(root / "contracts" / f"{doc['contract_id']}.yaml",
                                       yaml.safe_dump(doc, sort_keys=False).encode()))
    return out


# --------------------------------------------------------------------------- formatting

def _iso_z(utc_us: np.ndarray) -> pa.Array:
    seconds = np.asarray(utc_us, dtype=np.int64).view("datetime64[us]").astype("datetime64[s]")
    naive = pa.array(seconds)
    return pc.strftime(naive, format="%Y-%m-%dT%H:%M:%SZ")


def _decimal_strings(values: np.ndarray, places: int) -> pa.Array:
    """Exact decimal strings of scaled integers (``12345, 3 -> "12.345"``)."""
    v = np.asarray(values, dtype=np.int64)
    scale = 10 ** places
    a = np.abs(v)
    s = pc.binary_join_element_wise(pc.cast(pa.array(a // scale), pa.string()),
                                    pc.utf8_lpad(pc.cast(pa.array(a % scale), pa.string()),
                                                 places, "0"), ".")
    if (v < 0).any():
        s = pc.binary_join_element_wise(pa.array(np.where(v < 0, "-", "")), s, "")
    return s


def _csv(table: pa.Table) -> bytes:
    """Plain CSV: an unquoted header, no quoting (no value contains a comma or quote)."""
    buf = io.BytesIO()
    buf.write((",".join(table.column_names) + "\n").encode())
    pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return path
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


__all__ = ["DemoPortfolio", "InjectedProblem", "build_portfolio", "write_demo_files",
           "METER_COLUMNS", "PRICE_COLUMNS", "INDEX_COLUMNS"]
