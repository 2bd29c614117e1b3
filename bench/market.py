"""ISO market benchmarks (``python bench/market.py``; the defaults are issue 17's targets).

Prints, in one process:

1. shadow settlement of one ERCOT resource for a year (35,040 fifteen-minute RTEIAMT
   intervals from 105,120 five-minute SCED prices and meter readings, 8,760 day-ahead
   hours; DAESAMT + RTEIAMT + BPDAMT), pure engine, inputs in memory. Target < 5 s;
2. reconciliation of a statement of 1,000,000 lines against its shadow (one Arrow hash
   join; two planted mismatches found), and the deltas of a re-settled version of it
   (every line re-priced). The statement is built column-wise (no Python object per
   line, here or in ``engine.market.reconcile``). Target < 5 s;
3. the bid-to-bill identity of that year (``engine.market.bidtobill``: 35,040 intervals,
   physical at RT + position spread against the shadow lines, exact);
4. the shadow year of N resources (default 100) on the Ray pool, one task per resource
   (inputs generated in the task from its seed, so nothing large crosses the object
   store), against N times the one-resource time of (1): the scaling figure. The
   ``shadow_settlement`` job kind runs the same engine per resource x operating day.

``--resources 0`` skips (4); smaller ``--lines`` / ``--days`` check that it runs. Timings
are what this machine measured now; the integrator measures on a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.market.bidtobill import resource_chain  # noqa: E402
from engine.market.inputs import MarketInputs, PriceCurve  # noqa: E402
from engine.market.reconcile import reconcile, summary, version_deltas  # noqa: E402
from engine.market.resources import MarketResource  # noqa: E402
from engine.market.series import Series  # noqa: E402
from engine.market.shadow import day_bounds_us, interval_counts, shadow_settle  # noqa: E402
from engine.timebase import US_PER_MINUTE  # noqa: E402

FIRST = date(2026, 1, 1)


def year_inputs(seed: int, days: int) -> MarketInputs:
    """``days`` operating days of one ERCOT resource from ``FIRST``: 5-minute meter,
    SCED prices and base points, hourly DA prices and sales."""
    rng = np.random.default_rng(seed)
    s, e = day_bounds_us("ERCOT", FIRST, FIRST + timedelta(days=days - 1))
    fives = np.arange(s, e, 5 * US_PER_MINUTE, dtype=np.int64)
    hours = fives[::12]
    meter = rng.integers(0, 60_000_000 // 12, fives.size)
    r = MarketResource(f"R{seed}", "ERCOT", "S", "RN", inject=("exp",))
    return MarketInputs(
        r, {"exp": Series(fives, np.full(fives.size, 5), meter)},
        {"da_sale": Series(hours, np.full(hours.size, 60), rng.integers(0, 60, hours.size) * 1_000_000),
         "base_point": Series(fives, np.full(fives.size, 5),
                              meter * 12 + rng.integers(-6_000_000, 6_000_000, fives.size))},
        {("DA", "RN"): PriceCurve(Series(hours, np.full(hours.size, 60),
                                         rng.integers(0, 90_000_000, hours.size))),
         ("RT", "RN"): PriceCurve(Series(fives, np.full(fives.size, 5),
                                         rng.integers(-20_000_000, 300_000_000, fives.size)))})


def statement_of(lines: pa.Table, n: int) -> tuple[pa.Table, pa.Table]:
    """A statement of ``n`` lines that states ``lines`` again for as many resources as it
    takes (``R0``, ``R1``, ...), and the shadow lines it answers: built column-wise."""
    reps = -(-n // lines.num_rows)
    rid = pa.array([f"R{k}" for k in range(reps)]).take(
        pa.array(np.repeat(np.arange(reps, dtype=np.int32), lines.num_rows)))
    idx = pa.array(np.tile(np.arange(lines.num_rows, dtype=np.int64), reps))
    t = lines.take(idx)
    t = t.set_column(t.schema.get_field_index("resource_id"), "resource_id", rid).slice(0, n)
    t = t.combine_chunks()
    st = pa.table({"charge_type": t.column("charge_type"), "resource_id": t.column("resource_id"),
                   "interval_start_utc": t.column("interval_start_utc"),
                   "interval_minutes": t.column("interval_minutes"),
                   "energy_wh": pc.divide(t.column("quantity_wh12"), 12),
                   "price_microusd_per_mwh": t.column("price_microusd_per_mwh"),
                   "amount_microusd": pc.multiply(t.column("amount_cents"), 10_000)})
    return st, t


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365, help="operating days of the shadow (365)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="statement lines (1,000,000)")
    ap.add_argument("--resources", type=int, default=100, help="resources on Ray (100; 0 skips)")
    a = ap.parse_args()
    last = FIRST + timedelta(days=a.days - 1)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    inp = year_inputs(1, a.days)
    lines, cold = timed(shadow_settle, inp, FIRST, last)
    dt_shadow = min(cold, timed(shadow_settle, inp, FIRST, last)[1])      # best of a cold and a warm run
    counts = interval_counts(lines)
    print(f"1. shadow settlement, 1 ERCOT resource x {a.days} days: {lines.num_rows:,} lines "
          f"({', '.join(f'{k} {v:,}' for k, v in counts.items())}) in {dt_shadow:.2f} s "
          f"(target < 5 s for 365 days)")

    st, shadow = statement_of(lines, a.lines)
    amt = st.column("amount_microusd").to_numpy().copy()
    amt[[10, a.lines // 2]] += [250_000, -13_000]
    st = st.set_column(st.schema.get_field_index("amount_microusd"), "amount_microusd", pa.array(amt))
    rec, dt_rec = timed(reconcile, st, shadow)
    s = summary(rec)
    print(f"2. reconciliation of {st.num_rows:,} statement lines: {s['total']['mismatches']} "
          f"mismatches found (2 planted) in {dt_rec:.2f} s (target < 5 s for 1,000,000)")
    resettled = st.set_column(st.schema.get_field_index("price_microusd_per_mwh"),
                              "price_microusd_per_mwh",
                              pc.add(st.column("price_microusd_per_mwh"), 1_000_000))
    resettled = resettled.set_column(resettled.schema.get_field_index("amount_microusd"),
                                     "amount_microusd", pc.add(st.column("amount_microusd"), 1))
    deltas, dt_delta = timed(version_deltas, st, resettled)
    print(f"   version deltas of a re-settlement of every line: {deltas.num_rows:,} deltas "
          f"attributed in {dt_delta:.2f} s")

    s0, e0 = day_bounds_us("ERCOT", FIRST, last)
    rc, dt_chain = timed(resource_chain, inp, s0, e0)
    exact = int(sum(1 for d in (rc.shadow12 - rc.physical12 - rc.spread12) if d == 0))
    print(f"3. bid-to-bill identity of the same {a.days} days: {exact:,}/{len(rc):,} intervals "
          f"exact (shadow = metered x RT + DA x spread) in {dt_chain:.2f} s (shadow included)")

    if a.resources <= 0:
        return
    import ray
    ray.init(include_dashboard=False, log_to_driver=False)

    @ray.remote
    def one(seed: int, days: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        inp = year_inputs(seed, days)
        rows = shadow_settle(inp, FIRST, FIRST + timedelta(days=days - 1)).num_rows
        return rows, time.perf_counter() - t0
    ray.get([one.remote(0, 1) for _ in range(int(ray.cluster_resources().get("CPU", 1)))])  # warm
    n = a.resources
    t0 = time.perf_counter()
    done = ray.get([one.remote(k + 1, a.days) for k in range(n)])
    wall = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    work = sum(dt for _, dt in done)
    print(f"4. {n} resources x {a.days} days on Ray ({cpus} CPUs): {sum(r for r, _ in done):,} lines "
          f"in {wall:.1f} s wall; {work:.1f} s of task time ({work / n:.2f} s per resource with its "
          f"inputs); serially {n} x {dt_shadow:.2f} s = {n * dt_shadow:.1f} s; speed-up "
          f"{n * dt_shadow / wall:.1f}x")
    ray.shutdown()


if __name__ == "__main__":
    main()
