"""Reconciliation: a statement that agrees except for two planted mismatches; tolerance;
lines on one side only; a re-settlement shown as deltas against the previous version."""
from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.market.reconcile import reconcile, summary, version_deltas, version_rank
from engine.market.shadow import shadow_settle
from engine.schema import STATEMENTS_SCHEMA
from tests.support.market import ercot_day

D = date(2026, 1, 15)


def statement_from(shadow: pa.Table, version="initial") -> pa.Table:
    n = shadow.num_rows
    q = shadow.column("quantity_wh12").to_numpy()
    return pa.table({
        "iso": shadow.column("iso"), "statement_id": pa.array(["S1"] * n),
        "version": pa.array([version] * n), "version_rank": pa.array([version_rank(version)] * n,
                                                                     pa.int32()),
        "operating_date": shadow.column("operating_date"), "charge_type": shadow.column("charge_type"),
        "resource_id": shadow.column("resource_id"),
        "interval_start_utc": shadow.column("interval_start_utc"),
        "interval_minutes": shadow.column("interval_minutes"),
        "energy_wh": pa.array(np.where(q % 12 == 0, q // 12, 0), pa.int64()),
        "price_microusd_per_mwh": shadow.column("price_microusd_per_mwh"),
        "amount_microusd": pc.multiply(shadow.column("amount_cents"), 10_000),
    }).select([f.name for f in STATEMENTS_SCHEMA if f.name in (
        "iso", "statement_id", "version", "version_rank", "operating_date", "charge_type",
        "resource_id", "interval_start_utc", "interval_minutes", "energy_wh",
        "price_microusd_per_mwh", "amount_microusd")])


def planted(st: pa.Table, rows: dict[int, int]) -> pa.Table:
    amt = st.column("amount_microusd").to_numpy().copy()
    for i, d in rows.items():
        amt[i] += d
    return st.set_column(st.schema.get_field_index("amount_microusd"), "amount_microusd", pa.array(amt))


def test_the_dispute_report_finds_exactly_the_two_planted_mismatches():
    shadow = shadow_settle(ercot_day(D), D, D)
    st = statement_from(shadow)
    i_da = shadow.column("charge_type").to_pylist().index("DAESAMT") + 3
    i_rt = shadow.column("charge_type").to_pylist().index("RTEIAMT") + 40
    # two planted errors, and noise within the tolerance (a statement to 6 places)
    bad = planted(st, {i_da: -250_000, i_rt: 12_340, i_rt + 10: 9_999, i_rt + 20: -10_000})
    rec = reconcile(bad, shadow)
    wrong = rec.filter(pc.not_equal(rec.column("status"), "match"))
    assert wrong.num_rows == 2
    keys = set(zip(wrong.column("charge_type").to_pylist(),
                   wrong.column("interval_start_utc").to_pylist()))
    assert keys == {(shadow.column("charge_type")[i].as_py(),
                     shadow.column("interval_start_utc")[i].as_py()) for i in (i_da, i_rt)}
    assert sorted(wrong.column("difference_microusd").to_pylist()) == [-250_000, 12_340]
    # determinants on both sides are in the report
    assert wrong.column("statement_price_microusd_per_mwh").null_count == 0
    assert wrong.column("shadow_quantity_wh12").null_count == 0
    s = summary(rec)
    assert s["total"]["mismatches"] == 2
    assert s["by_charge_type"]["DAESAMT"]["difference_microusd"] == -250_000
    assert s["total"]["difference_microusd"] == -250_000 + 12_340 + 9_999 - 10_000
    assert s["total"]["lines"] == shadow.num_rows


def test_lines_on_one_side_only_and_a_tighter_tolerance():
    shadow = shadow_settle(ercot_day(D), D, D)
    st = statement_from(shadow)
    st = st.filter(pc.not_equal(st.column("charge_type"), "DAESAMT"))       # statement lacks DA
    extra = st.slice(0, 1)
    extra = extra.set_column(extra.schema.get_field_index("charge_type"), "charge_type",
                             pa.array(["BPDAMT"]))
    extra = extra.set_column(extra.schema.get_field_index("amount_microusd"), "amount_microusd",
                             pa.array([5_000_000], pa.int64()))
    rec = reconcile(pa.concat_tables([st, extra]), shadow)
    status = rec.column("status").to_pylist()
    n_da = pc.sum(pc.equal(shadow.column("charge_type"), "DAESAMT")).as_py()
    zero_da = pc.sum(pc.and_(pc.equal(shadow.column("charge_type"), "DAESAMT"),
                             pc.equal(shadow.column("amount_cents"), 0))).as_py()
    assert status.count("shadow_only") == n_da - zero_da
    assert status.count("statement_only") == 1
    assert reconcile(planted(statement_from(shadow), {0: 1}), shadow,
                     tolerance_microusd=0).column("status").to_pylist().count("mismatch") == 1


def test_a_resettlement_is_shown_as_deltas_against_the_previous_version():
    shadow = shadow_settle(ercot_day(D), D, D)
    initial = statement_from(shadow, "initial")
    i = shadow.column("charge_type").to_pylist().index("RTEIAMT") + 5
    row = initial.slice(i, 1).to_pylist()[0]
    # the ISO re-posts the interval's price 10.00 higher: RTEIAMT = -1 x RTSPP x qty
    q, p = row["energy_wh"], row["price_microusd_per_mwh"]
    new_amt = -(q * (p + 10_000_000)) // 10**6
    final = statement_from(shadow, "final")
    cols = {"price_microusd_per_mwh": p + 10_000_000, "amount_microusd": new_amt}
    for name, v in cols.items():
        arr = final.column(name).to_pylist()
        arr[i] = v
        final = final.set_column(final.schema.get_field_index(name), name, pa.array(arr, pa.int64()))
    d = version_deltas(initial, final)
    assert d.num_rows == 1
    r = d.to_pylist()[0]
    assert r["delta_microusd"] == new_amt - row["amount_microusd"]
    assert r["price_effect_microusd"] + r["quantity_effect_microusd"] == r["delta_microusd"]
    assert abs(r["price_effect_microusd"] - (-q * 10)) <= 10_000


def _lines(rows: list[tuple]) -> pa.Table:
    """Statement lines (ERCOT RTEIAMT) of ``(minute, energy_wh, price, amount)`` rows."""
    from datetime import datetime, timezone
    t0 = datetime(2026, 1, 15, 6, 0, tzinfo=timezone.utc).timestamp()
    return pa.Table.from_pylist([
        {"charge_type": "RTEIAMT", "resource_id": "R1",
         "interval_start_utc": datetime.fromtimestamp(t0 + 60 * m, timezone.utc),
         "amount_microusd": a, "energy_wh": q, "price_microusd_per_mwh": p}
        for m, q, p, a in rows])


def test_version_delta_attribution_is_exact_beyond_int64_and_unexplained_without_determinants():
    before = _lines([(0, 50_000_000, 30_000_000, -1_500_000_000),                 # 50 MWh sold at 30
                     (15, 4 * 10**12, 5_000_000_000, -2 * 10**16),                  # 4 TWh at 5,000
                     (30, None, None, 7_000_000),
                     (45, 10_000_000, 20_000_000, 200_000_000)])
    after = _lines([(0, 50_000_000, 31_000_001, -1_550_000_050),                  # price +1.000001
                    (15, 4 * 10**12, -5_000_000_000, 2 * 10**16),                  # re-priced at -5,000
                    (30, None, None, 8_000_000),
                    (45, 10_000_000, 20_000_000, 200_000_000)])                     # unchanged
    d = {r["interval_start_utc"].minute: r for r in version_deltas(before, after).to_pylist()}
    assert sorted(d) == [0, 15, 30]
    # sign x q_old x (p_new - p_old), micro-USD, rounded half away from zero
    assert d[0]["price_effect_microusd"] == -50_000_050                  # -50e6 Wh x 1.000001
    assert d[0]["quantity_effect_microusd"] == 0
    # -1 x 4e12 Wh x -1e10 micro-USD/MWh = 4e22 pico-USD: beyond int64, exact
    assert d[15]["price_effect_microusd"] == 4 * 10**16 == d[15]["delta_microusd"]
    assert d[15]["price_effect_microusd"] + d[15]["quantity_effect_microusd"] == d[15]["delta_microusd"]
    assert (d[30]["price_effect_microusd"], d[30]["unexplained_microusd"]) == (0, 1_000_000)
