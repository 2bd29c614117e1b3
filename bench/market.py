"""ISO market benchmarks (``python bench/market.py [--resources N] [--lines N]``).

Prints, in one process:

1. shadow settlement of one ERCOT resource for a year (35,040 fifteen-minute RTEIAMT
   intervals from 105,120 five-minute SCED prices and meter readings, 8,760 day-ahead
   hours, DAESAMT + RTEIAMT + BPDAMT), pure engine, inputs in memory;
2. reconciliation of a statement of 1,000,000 lines against its shadow (one Arrow
   hash join; two planted mismatches found);
3. the shadow year of N resources (default 100) as resource x month pieces on the
   Ray pool (``cluster.executor`` is not needed for a pure function: Ray tasks over
   in-memory inputs), against the same work serially.

Targets (issue 17): (1) and (2) under 5 s each on a 2-core machine. Timings here are
what this machine measured now; the integrator measures on a quiet machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.market.inputs import MarketInputs, PriceCurve  # noqa: E402
from engine.market.reconcile import reconcile, summary  # noqa: E402
from engine.market.resources import MarketResource  # noqa: E402
from engine.market.series import Series  # noqa: E402
from engine.market.shadow import day_bounds_us, shadow_settle  # noqa: E402
from engine.timebase import US_PER_MINUTE  # noqa: E402

FIRST, LAST = date(2026, 1, 1), date(2026, 12, 31)


def year_inputs(seed: int) -> MarketInputs:
    rng = np.random.default_rng(seed)
    s, e = day_bounds_us("ERCOT", FIRST, LAST)
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


def statement_of(lines: pa.Table, n: int) -> pa.Table:
    reps = -(-n // lines.num_rows)
    t = pa.concat_tables([lines.set_column(1, "resource_id", pa.array([f"R{k}"] * lines.num_rows))
                          for k in range(reps)]).slice(0, n)
    q = t.column("quantity_wh12").to_numpy()
    return pa.table({"charge_type": t.column("charge_type"), "resource_id": t.column("resource_id"),
                     "interval_start_utc": t.column("interval_start_utc"),
                     "interval_minutes": t.column("interval_minutes"),
                     "energy_wh": pa.array(q // 12), "price_microusd_per_mwh":
                     t.column("price_microusd_per_mwh"),
                     "amount_microusd": pc.multiply(t.column("amount_cents"), 10_000)}), t


def timed(fn, *a):
    t0 = time.perf_counter()
    out = fn(*a)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=100)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    inp = year_inputs(1)
    lines, dt = timed(shadow_settle, inp, FIRST, LAST)
    counts = dict(zip(*np.unique(lines.column("charge_type").to_numpy(zero_copy_only=False),
                                 return_counts=True)))
    print(f"shadow year, 1 ERCOT resource: {lines.num_rows:,} lines "
          f"({', '.join(f'{k} {v:,}' for k, v in counts.items())}) in {dt:.2f} s (target < 5 s)")
    st, shadow = statement_of(lines, a.lines)
    amt = st.column("amount_microusd").to_numpy().copy()
    amt[[10, a.lines // 2]] += [250_000, -13_000]
    st = st.set_column(6, "amount_microusd", pa.array(amt))
    rec, dt = timed(reconcile, st, shadow)
    s = summary(rec)
    print(f"reconcile {st.num_rows:,} statement lines: {s['total']['mismatches']} mismatches found "
          f"in {dt:.2f} s (target < 5 s)")
    if a.no_ray or a.resources <= 0:
        return
    import ray
    ray.init(num_cpus=None, include_dashboard=False, log_to_driver=False)

    @ray.remote
    def one(seed: int, month: int) -> int:
        inp = year_inputs(seed)
        first = date(2026, month, 1)
        last = date(2026, month + 1, 1) if month < 12 else date(2027, 1, 1)
        from datetime import timedelta
        return shadow_settle(inp, first, last - timedelta(days=1)).num_rows
    n = a.resources
    t0 = time.perf_counter()
    rows = sum(ray.get([one.remote(k, m) for k in range(n) for m in range(1, 13)]))
    dt_ray = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    print(f"{n} resources x 12 months on Ray ({cpus} CPUs): {rows:,} lines in {dt_ray:.1f} s "
          f"({dt_ray / n:.2f} s per resource-year; one resource serially: {lines.num_rows:,} lines "
          f"as above)")
    ray.shutdown()


if __name__ == "__main__":
    main()
