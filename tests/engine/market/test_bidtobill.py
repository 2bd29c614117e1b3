"""Bid to bill in the engine (``engine.market.bidtobill``): the two-settlement identity
per interval, worked by hand and exact for every ISO's shadow lines (DST days too);
a statement at the same prices agrees to the cent per interval, one at another price
run differs by exactly the price difference; an export_share line is the share of the
ISO's revenue when it prices at the same series, and the documented difference when
it does not."""
from __future__ import annotations

from datetime import date
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest

from engine.market.bidtobill import (PassThrough, interval_rows, pass_through_document,
                                     resource_chain, resource_document)
from engine.market.inputs import MarketInputs, PriceCurve
from engine.market.resources import MarketResource
from engine.market.shadow import day_bounds_us, shadow_settle
from engine.schema import STATEMENTS_SCHEMA
from engine.timebase import US_PER_HOUR, US_PER_MINUTE
from tests.support.market import ercot_day, flat, grid_of, resource

D = date(2026, 1, 15)
MW = 1_000_000            # W
USD = 1_000_000           # micro-USD/MWh
MWH12 = 12_000_000        # wh12 per MWh
AMOUNT12_PER_USD = 12 * 10**12


def one_hour_ercot(p_rt=(20, 25, 30, 35), m_mwh=(10, 12, 14, 16)):
    """An ERCOT day whose 07:00 UTC hour holds a 50 MW DA sale at 30.00 and four
    quarter hours metered 10, 12, 14, 16 MWh at RTSPPs 20, 25, 30, 35 (the rest 0)."""
    quarters, hours = grid_of("ERCOT", D, 15), grid_of("ERCOT", D, 60)
    h = int(np.flatnonzero(hours == hours[1])[0])
    rt = np.zeros(quarters.size, np.int64)
    meter = np.zeros(quarters.size, np.int64)
    rt[4 * h:4 * h + 4] = np.array(p_rt) * USD
    meter[4 * h:4 * h + 4] = np.array(m_mwh) * 1_000_000            # Wh
    inp = MarketInputs(resource(withdraw=()), {"exp": flat(quarters, 15, meter)},
                       {"da_sale": flat(hours[h:h + 1], 60, 50 * MW)},
                       {("DA", "TXDC1_RN"): PriceCurve(flat(hours, 60, 30 * USD)),
                        ("RT", "TXDC1_RN"): PriceCurve(flat(quarters, 15, rt))})
    return inp, int(hours[h])


def test_ercot_identity_worked_by_hand():
    inp, h0 = one_hour_ercot()
    rc = resource_chain(inp, h0, h0 + US_PER_HOUR)
    assert len(rc) == 4
    # DAESAMT = -50 x 30 = -1500; RTEIAMT = -P x (M - 12.5) = 50, 12.5, -45, -122.5
    shadow = [Fraction(x, AMOUNT12_PER_USD) for x in rc.shadow12]
    assert shadow == [-375 + 50, -375 + Fraction(25, 2), -375 - 45, -375 - Fraction(245, 2)]
    assert sum(shadow) == -1605
    # = metered x RT (-1480) + DA position x (DA - RT) spread (-125)
    assert Fraction(int(rc.physical12.sum()), AMOUNT12_PER_USD) == -1480
    assert Fraction(int(rc.spread12.sum()), AMOUNT12_PER_USD) == -125
    doc = resource_document(rc)
    st = doc["settlement"]
    assert st["decomposition_usd"] == {"physical_at_rt": "-1480.000000",
                                       "position_spread": "-125.000000", "energy": "-1605.000000"}
    assert st["shadow"]["by_charge_type_usd"] == {"DAESAMT": "-1500.00", "RTEIAMT": "-105.00"}
    assert st["shadow"]["identity"] == {"intervals": 4, "exact": 4, "difference_usd": "0.000000",
                                        "line_rounding_usd": "0.000000"}
    assert doc["awards"]["da_sale_mwh"] == "50.000000" and doc["metered"]["settled_mwh"] == "52.000000"
    assert doc["market_revenue_usd"] == "1605.000000"
    row = interval_rows(rc)[3]
    assert (row["metered_mwh"], row["da_mwh"], row["rt_price_usd_per_mwh"], row["expected_usd"]) == (
        "16.000000", "12.500000", "35.000000", "-497.500000")


def statement(lines: pa.Table, *, rt_shift_usd: int = 0, every: int = 0) -> pa.Table:
    """A statement that states the shadow ``lines`` (ERCOT), its RTEIAMT lines priced
    ``rt_shift_usd`` higher on every ``every``-th interval (another price run)."""
    rows = lines.to_pylist()
    k = 0
    out = []
    for r in rows:
        price, amount = r["price_microusd_per_mwh"], r["amount_cents"] * 10_000
        if r["charge_type"] == "RTEIAMT" and every:
            if k % every == 0:
                price += rt_shift_usd * USD
                amount = -(r["quantity_wh12"] * price) // (12 * 10**6)   # exact: wh12 x 1e6 / 12 / 1e6
            k += 1
        out.append({"iso": "ERCOT", "statement_id": "S1", "version": "final", "version_rank": 2,
                    "operating_date": r["operating_date"], "charge_type": r["charge_type"],
                    "resource_id": r["resource_id"], "interval_start_utc": r["interval_start_utc"],
                    "interval_minutes": r["interval_minutes"],
                    "energy_wh": r["quantity_wh12"] // 12, "price_microusd_per_mwh": price,
                    "amount_microusd": amount})
    return pa.Table.from_pylist(out, schema=STATEMENTS_SCHEMA)


def test_a_statement_at_the_same_prices_agrees_to_the_cent_per_interval():
    inp = ercot_day(D, rng=np.random.default_rng(5))
    w0, w1 = day_bounds_us("ERCOT", D, D)
    st = statement(shadow_settle(inp, D, D))
    rc = resource_chain(inp, w0, w1, st)
    doc = resource_document(rc)["settlement"]
    assert doc["shadow"]["identity"]["exact"] == 96
    ident = doc["statement"]["identity"]
    assert (ident["agree"], ident["differ"], ident["difference_usd"]) == (96, 0, "0.000000")
    assert doc["statement"]["energy_usd"] == doc["shadow"]["energy_usd"]
    # the statement's lines are rounded to cents: within half a cent per line, exactly
    assert ident["within_rounding_usd"] == doc["shadow"]["identity"]["line_rounding_usd"]
    assert doc["statement"]["statements"] == [{"statement_id": "S1", "version": "final"}]


def test_a_statement_at_another_price_run_differs_by_the_price_difference():
    inp = ercot_day(D, rng=np.random.default_rng(5))
    w0, w1 = day_bounds_us("ERCOT", D, D)
    lines = shadow_settle(inp, D, D)
    st = statement(lines, rt_shift_usd=2, every=8)                 # 12 intervals re-priced +2.00
    rc = resource_chain(inp, w0, w1, st)
    doc = resource_document(rc)["settlement"]["statement"]
    assert (doc["identity"]["agree"], doc["identity"]["differ"]) == (84, 12)
    # each differing interval is off by -(M - DA) x 2.00, exactly
    rte = [r for r in lines.to_pylist() if r["charge_type"] == "RTEIAMT"][::8]
    expected = sum(Fraction(-q * 2 * USD, 12 * 10**12) for q in (r["quantity_wh12"] for r in rte)
                   if q)
    nonzero = sum(1 for r in rte if r["quantity_wh12"])
    assert doc["identity"]["differ"] == nonzero
    got = Fraction(doc["identity"]["difference_usd"])
    # ... plus, in those intervals, the rounding of the statement's lines: the hour's DA
    # line share (a quarter of half a cent) and the re-priced line's micro-USD
    assert abs(got - expected) <= nonzero * (Fraction(1, 800) + Fraction(1, 10**6))
    assert all(d["status"] == "differs" for d in doc["differences"])
    d0 = doc["differences"][0]
    assert Fraction(d0["statement_rt_price_usd_per_mwh"]) - Fraction(d0["rt_price_usd_per_mwh"]) == 2


@pytest.mark.parametrize("day, n", [(date(2026, 3, 8), 92), (date(2026, 11, 1), 100)])
def test_ercot_dst_days(day, n):
    inp = ercot_day(day, rng=np.random.default_rng(9), base_points=True)
    w0, w1 = day_bounds_us("ERCOT", day, day)
    rc = resource_chain(inp, w0, w1)
    doc = resource_document(rc)
    assert doc["intervals"] == n and doc["settlement"]["shadow"]["identity"]["exact"] == n
    assert doc["settlement"]["shadow"]["other_usd"] != "0.00"          # BPDAMT, outside the identity


def pjm_inputs(day: date, components: bool) -> MarketInputs:
    rng = np.random.default_rng(3)
    hours, fives = grid_of("PJM", day, 60), grid_of("PJM", day, 5)
    r = MarketResource("PJM_UNIT1", "PJM", "S", "PN1", inject=("exp",))

    def curve(starts, minutes, lo, hi):
        e = rng.integers(lo, hi, starts.size) * 10_000
        c = rng.integers(-500, 500, starts.size) * 10_000
        loss = rng.integers(-50, 50, starts.size) * 10_000
        comps = {"energy": flat(starts, minutes, e), "congestion": flat(starts, minutes, c),
                 "loss": flat(starts, minutes, loss)} if components else {}
        return PriceCurve(flat(starts, minutes, e + c + loss), comps)
    return MarketInputs(r, {"exp": flat(fives, 5, rng.integers(0, 4_000_000, fives.size))},
                        {"da_sale": flat(hours, 60, rng.integers(0, 40, hours.size) * MW),
                         "da_purchase": flat(hours[:3], 60, 5 * MW)},
                        {("DA", "PN1"): curve(hours, 60, 1000, 9000),
                         ("RT", "PN1"): curve(fives, 5, -2000, 20000)})


@pytest.mark.parametrize("day, n", [(date(2026, 3, 8), 276), (date(2026, 7, 1), 288),
                                    (date(2026, 11, 1), 300), (date(2017, 7, 1), 24)])
@pytest.mark.parametrize("components", [False, True])
def test_pjm_identity_is_exact_with_or_without_components(day, n, components):
    inp = pjm_inputs(day, components)
    w0, w1 = day_bounds_us("PJM", day, day)
    doc = resource_document(resource_chain(inp, w0, w1))
    assert doc["intervals"] == n                        # 5-minute from 2018-04-01, hourly before
    ident = doc["settlement"]["shadow"]["identity"]
    assert ident["exact"] == n and ident["difference_usd"] == "0.000000"
    cts = set(doc["settlement"]["shadow"]["by_charge_type_usd"])
    assert cts == ({"1200", "1210", "1220", "1205", "1215", "1225"} if components else {"1200", "1205"})


def test_caiso_identity_with_fmm_and_rtd_including_rtd_without_an_fmm_schedule():
    rng = np.random.default_rng(4)
    hours, quarters, fives = (grid_of("CAISO", D, m) for m in (60, 15, 5))
    r = MarketResource("CA_UNIT1", "CAISO", "S", "CP1", inject=("exp",))
    fmm = flat(quarters[:40], 15, rng.integers(0, 50, 40) * MW)           # FMM for 10 hours
    rtd = flat(fives[:200], 5, rng.integers(0, 50, 200) * MW)             # RTD beyond the FMM
    inp = MarketInputs(r, {"exp": flat(fives, 5, rng.integers(0, 4_000_000, fives.size))},
                       {"da_sale": flat(hours, 60, rng.integers(0, 40, hours.size) * MW),
                        "fmm": fmm, "rtd": rtd},
                       {("DA", "CP1"): PriceCurve(flat(hours, 60, rng.integers(10, 90, hours.size) * USD)),
                        ("FMM", "CP1"): PriceCurve(flat(quarters, 15, rng.integers(0, 120, quarters.size) * USD)),
                        ("RT", "CP1"): PriceCurve(flat(fives, 5, rng.integers(-20, 200, fives.size) * USD))})
    w0, w1 = day_bounds_us("CAISO", D, D)
    doc = resource_document(resource_chain(inp, w0, w1))
    assert doc["intervals"] == 288
    assert doc["settlement"]["shadow"]["identity"]["exact"] == 288


def test_caiso_rtd_imbalance_without_an_fmm_schedule_is_against_the_day_ahead_one():
    hours, fives = grid_of("CAISO", D, 60), grid_of("CAISO", D, 5)
    r = MarketResource("CA_UNIT1", "CAISO", "S", "CP1", inject=("exp",))
    inp = MarketInputs(r, {"exp": flat(fives, 5, 40 * 1_000_000 // 12)},      # 40 MW metered
                       {"da_sale": flat(hours[:1], 60, 30 * MW), "rtd": flat(fives[:12], 5, 40 * MW)},
                       {("DA", "CP1"): PriceCurve(flat(hours, 60, 50 * USD)),
                        ("RT", "CP1"): PriceCurve(flat(fives, 5, 60 * USD))})
    lines = shadow_settle(inp, D, D).to_pylist()
    rtd = [x for x in lines if x["charge_type"] == "6470"]
    # (RTD 40 - DA 30 MW) x 1/12 h x 60.00 = 50.00 paid each 5 minutes, not 40 MW's 200.00
    assert {x["amount_cents"] for x in rtd} == {-5000}
    total = sum(x["amount_cents"] for x in lines if x["interval_start_utc"].timestamp() * 1e6
                < int(hours[1]))
    assert total == -(30 * 5000 + 10 * 6000)                # DA 30 MWh at 50 + 10 MWh at 60


def export_share_line(inp: MarketInputs, w0: int, w1: int, *, run: str, share=Fraction(1, 2),
                      minutes: int = 15) -> PassThrough:
    """The export_share detail a 15-minute billing grid gives (``engine.terms.export_share``)."""
    from engine.market.series import price
    from engine.terms.base import quantise_micro
    starts = np.arange(w0, w1, minutes * US_PER_MINUTE, dtype=np.int64)
    energy = inp.channels_energy(("exp",), starts, minutes) // 12
    p = price(inp.price_curve(run, "TXDC1_RN").lmp, starts, minutes, "p")
    c = -share
    rate = np.array([quantise_micro(c * Fraction(int(x), USD)) for x in p], dtype=np.int64)
    return PassThrough("PPA", "export", 1, "export_share", "export share", ("ERCOT", "TXDC1_RN", run),
                       starts, minutes, energy, rate, energy * rate, p, ("exp",), coefficient=c,
                       line_amount_cents=None, line_sites=("S",))


def test_export_share_is_the_share_of_the_iso_revenue_at_the_same_series():
    inp = ercot_day(D, rng=np.random.default_rng(6))
    w0, w1 = day_bounds_us("ERCOT", D, D)
    rc = resource_chain(inp, w0, w1)
    export12 = inp.channels_energy(("exp",), rc.start_us, 15)
    doc = pass_through_document(export_share_line(inp, w0, w1, run="RT"), rc, export12)
    iso = doc["iso"]
    assert iso["same_series"] and iso["reconciles"] == "exact" and iso["reasons"] == []
    assert iso["energy_difference_usd"] == iso["price_difference_usd"] == "0.000000"
    # site amount = -0.5 x ISO revenue + the rate rounding, exactly
    revenue = Fraction(int((export12.astype(object) * rc.p_rt.astype(object)).sum()), AMOUNT12_PER_USD)
    assert Fraction(iso["iso_revenue_usd"]) == round(revenue, 6)
    site = Fraction(doc["site_amount_picousd"], 10**12)
    rounding = site - Fraction(-1, 2) * revenue
    assert abs(rounding) <= Fraction(96 * 15, 10**6)        # half a micro-USD/MWh on 96 x <= 60 MWh
    assert Fraction(doc["rate_rounding_usd"]) == round(rounding, 6)


def test_export_share_at_the_day_ahead_run_reports_the_price_difference():
    inp = ercot_day(D, rng=np.random.default_rng(6))
    w0, w1 = day_bounds_us("ERCOT", D, D)
    rc = resource_chain(inp, w0, w1)
    export12 = inp.channels_energy(("exp",), rc.start_us, 15)
    pt = export_share_line(inp, w0, w1, run="DA")
    doc = pass_through_document(pt, rc, export12)["iso"]
    assert not doc["same_series"] and doc["reconciles"] == "documented difference"
    assert doc["reasons"] == ["the contract prices at the DA run; the ISO settles the metered energy at RT"]
    e = pt.quantity_wh.astype(object)
    expected = Fraction(-1, 2) * Fraction(int((e * (pt.price_micro.astype(object)
                                                    - rc.p_rt.astype(object))).sum()), 10**12)
    assert Fraction(doc["price_difference_usd"]) == round(expected, 6)
    assert doc["energy_difference_usd"] == "0.000000"


def test_billing_intervals_finer_than_the_isos_are_a_documented_difference_at_the_same_node():
    inp = ercot_day(D, rng=np.random.default_rng(6))        # 5-minute meter and SCED prices
    w0, w1 = day_bounds_us("ERCOT", D, D)
    rc = resource_chain(inp, w0, w1)
    export12 = inp.channels_energy(("exp",), rc.start_us, 15)
    doc = pass_through_document(export_share_line(inp, w0, w1, run="RT", minutes=5), rc, export12)
    iso = doc["iso"]
    assert iso["same_series"] and iso["reconciles"] == "documented difference"
    assert iso["energy_difference_usd"] == "0.000000" and iso["price_difference_usd"] != "0.000000"
    assert "time-weighted" in iso["reasons"][0]
