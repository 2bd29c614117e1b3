"""Golden tests per charge type, worked by hand from the formulas in each module."""
from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow.compute as pc
import pytest

from engine.market.inputs import MarketInputs, PriceCurve
from engine.market.shadow import shadow_settle, totals
from tests.support.market import flat, grid_of, resource

D = date(2026, 1, 15)
MW = 1_000_000            # W
USD = 1_000_000           # micro-USD/MWh


def of(lines, charge_type):
    return lines.filter(pc.equal(lines.column("charge_type"), charge_type))


def prices(iso, sp, **runs):
    return {(run, sp): PriceCurve(s) for run, s in runs.items()}


def test_ercot_daesamt_sale_of_50_mw_at_30_is_minus_1500():
    hours = grid_of("ERCOT", D, 60)
    inp = MarketInputs(resource(kind="settlement_point", inject=(), withdraw=()), {},
                       {"da_sale": flat(hours[:1], 60, 50 * MW)},
                       prices("ERCOT", "TXDC1_RN", DA=flat(hours, 60, 30 * USD),
                              RT=flat(grid_of("ERCOT", D, 15), 15, 30 * USD)))
    lines = shadow_settle(inp, D, D)
    da = of(lines, "DAESAMT").to_pylist()
    assert len(da) == 1
    assert da[0]["amount_cents"] == -150_000            # -1,500.00 USD: paid to the QSE
    assert da[0]["quantity_wh12"] == 50 * MW * 12       # 50 MWh
    # the position is liquidated in real time at the same price: RTEIAMT gives it back
    assert totals(lines) == {"DAESAMT": -150_000, "RTEIAMT": 150_000}


def test_ercot_daepamt_purchase_is_a_charge():
    hours = grid_of("ERCOT", D, 60)
    inp = MarketInputs(resource(kind="settlement_point", inject=(), withdraw=()), {},
                       {"da_purchase": flat(hours[5:6], 60, 20 * MW)},
                       prices("ERCOT", "TXDC1_RN", DA=flat(hours, 60, 41_250_000),
                              RT=flat(grid_of("ERCOT", D, 15), 15, 0)))
    t = totals(shadow_settle(inp, D, D))
    assert t["DAEPAMT"] == 82_500                       # 20 MWh x 41.25 = 825.00 charged


def test_ercot_rteiamt_time_weights_sced_prices_and_charges_the_imbalance():
    hours, fives = grid_of("ERCOT", D, 60), grid_of("ERCOT", D, 5)
    # 5-minute SCED LMPs 20, 30, 40 in every quarter hour -> RTSPP 30.00
    rt = flat(fives, 5, np.tile([20 * USD, 30 * USD, 40 * USD], fives.size // 3))
    inp = MarketInputs(resource(withdraw=()), {"exp": flat(fives, 5, 1_000_000)},
                       {"da_sale": flat(hours[:1], 60, 10 * MW)},
                       prices("ERCOT", "TXDC1_RN", DA=flat(hours, 60, 25 * USD), RT=rt))
    lines = shadow_settle(inp, D, D)
    rte = of(lines, "RTEIAMT").to_pylist()
    assert len(rte) == 96
    first = rte[0]
    # RTMG 3 MWh, DAES 10 MW x 1/4 h = 2.5 MWh: imbalance 0.5 MWh x 30.00, paid: -15.00
    assert first["price_microusd_per_mwh"] == 30 * USD
    assert first["metered_wh12"] == 3_000_000 * 12 and first["da_wh12"] == 2_500_000 * 12
    assert first["amount_cents"] == -1500
    assert rte[4]["amount_cents"] == -9000               # no award: 3 MWh x 30.00 paid
    assert first["rule"] == "ercot.rteiamt_rtcb"         # 2026: RTC+B in force


def test_rtc_b_settles_a_battery_as_one_resource_from_2025_12_05():
    def day_lines(day):
        fives = grid_of("ERCOT", day, 5)
        inp = MarketInputs(resource(kind="storage", inject=("dis",), withdraw=("chg",)),
                           {"dis": flat(fives, 5, 0), "chg": flat(fives, 5, 1_000_000)}, {},
                           prices("ERCOT", "TXDC1_RN", RT=flat(fives, 5, 10 * USD)))
        return shadow_settle(inp, day, day)
    before, after = day_lines(date(2025, 12, 4)), day_lines(date(2025, 12, 5))
    assert set(before.column("rule").to_pylist()) == {"ercot.rteiamt"}
    assert set(after.column("rule").to_pylist()) == {"ercot.rteiamt_rtcb"}
    # charging 3 MWh a quarter hour at 10.00: the single ESR is charged 30.00 an interval;
    # before RTC+B the Generation Resource's RTEIAMT does not see the Load Resource's charging
    assert totals(before)["RTEIAMT"] == 0
    assert totals(after)["RTEIAMT"] == 96 * 3000


def test_ercot_bpdamt_over_and_under_generation():
    fives = grid_of("ERCOT", D, 5)
    bp = np.full(fives.size, 100 * MW)
    tg = np.full(fives.size, 100 * MW)
    tg[0] = 110 * MW          # over: 110 - max(105, 105) = 5 MW for 5 min
    tg[4] = 80 * MW           # under (2nd interval): min(95, 95) - 80 = 15 MW
    inp = MarketInputs(resource(withdraw=()), {"exp": flat(fives, 5, tg // 12)},
                       {"base_point": flat(fives, 5, bp)},
                       prices("ERCOT", "TXDC1_RN", RT=flat(fives, 5, 50 * USD)))
    lines = shadow_settle(inp, D, D)
    bpd = of(lines, "BPDAMT").to_pylist()
    assert len(bpd) == 96
    # over: max(20, 50) x 5 MW x 1/12 h = 20.833.. -> 20.83 charged
    assert bpd[0]["amount_cents"] == 2083
    # under: -1 x min(-20, 50) x 15 MW x 1/12 h = 25.00 charged
    assert bpd[1]["amount_cents"] == 2500
    assert all(r["amount_cents"] == 0 for r in bpd[2:])


def test_pjm_five_minute_balancing_against_an_hourly_day_ahead_award():
    day = date(2026, 1, 15)
    hours, fives = grid_of("PJM", day, 60), grid_of("PJM", day, 5)
    sp = "PJM_PNODE_1"
    # DA 60 MW in the first hour at 40.00; RT output 66 MW (5.5 MWh... per 5 min: 5.5 MWh)
    energy = flat(fives, 5, 35 * USD)
    cong = flat(fives, 5, 3 * USD)
    loss = flat(fives, 5, 2 * USD)
    da = PriceCurve(flat(hours, 60, 40 * USD), {"energy": flat(hours, 60, 36 * USD),
                                                "congestion": flat(hours, 60, 3 * USD),
                                                "loss": flat(hours, 60, 1 * USD)})
    rt = PriceCurve(flat(fives, 5, 40 * USD), {"energy": energy, "congestion": cong, "loss": loss})
    inp = MarketInputs(resource("PJM", "PJM_UNIT1", sp, withdraw=()),
                       {"exp": flat(fives, 5, 5_500_000)},
                       {"da_sale": flat(hours[:1], 60, 60 * MW)}, {("DA", sp): da, ("RT", sp): rt})
    lines = shadow_settle(inp, day, day)
    t = totals(lines)
    # DA: 60 MWh x (36, 3, 1) credited
    assert (t["1200"], t["1210"], t["1220"]) == (-216_000, -18_000, -6_000)
    bal = of(lines, "1205").to_pylist()
    assert len(bal) == 288
    # hour 1: each 5 minutes 5.5 MWh metered - 5 MWh DA = 0.5 MWh x 35.00 credited -17.50
    assert bal[0]["amount_cents"] == -1750 and bal[0]["da_wh12"] == 5_000_000 * 12
    # later hours: no DA, 5.5 MWh x 35.00 = -192.50
    assert bal[12]["amount_cents"] == -19250
    assert bal[0]["rule"] == "pjm.balancing_5min"


def test_pjm_before_2018_04_01_settles_hourly_at_the_average_price():
    day = date(2018, 3, 30)
    hours, fives = grid_of("PJM", day, 60), grid_of("PJM", day, 5)
    sp = "PJM_PNODE_1"
    rt = flat(fives, 5, np.tile(np.arange(1, 13) * USD, hours.size))    # average 6.50
    inp = MarketInputs(resource("PJM", "PJM_UNIT1", sp, withdraw=()), {"exp": flat(fives, 5, 1_000_000)},
                       {}, {("RT", sp): PriceCurve(rt)})
    lines = shadow_settle(inp, day, day)
    assert lines.num_rows == 24 and set(lines.column("rule").to_pylist()) == {"pjm.balancing_hourly"}
    assert lines.column("price_microusd_per_mwh")[0].as_py() == 6_500_000
    assert lines.column("amount_cents")[0].as_py() == -7800          # 12 MWh x 6.50


def test_caiso_iie_and_uie():
    day = date(2026, 1, 15)
    hours, q15, fives = grid_of("CAISO", day, 60), grid_of("CAISO", day, 15), grid_of("CAISO", day, 5)
    sp = "CA_PNODE_1"
    inp = MarketInputs(resource("CAISO", "CA_UNIT1", sp, withdraw=()),
                       {"exp": flat(fives, 5, 4_000_000)},                     # 48 MW metered
                       {"da_sale": flat(hours, 60, 40 * MW), "fmm": flat(q15, 15, 44 * MW),
                        "rtd": flat(fives, 5, 50 * MW)},
                       {("DA", sp): PriceCurve(flat(hours, 60, 30 * USD)),
                        ("FMM", sp): PriceCurve(flat(q15, 15, 32 * USD)),
                        ("RT", sp): PriceCurve(flat(fives, 5, 36 * USD))})
    t = totals(shadow_settle(inp, day, day))
    assert t["6011"] == -24 * 40 * 30 * 100                  # 40 MWh x 30.00 each hour, paid
    assert t["6460"] == -96 * 1_000_000 * 32 // 10_000       # (44-40) MW x 1/4 h x 32.00
    assert t["6470"] == -288 * 1800                          # (50-44) MW x 1/12 h x 36.00 paid
    assert t["6475"] == 288 * 600                                # (4 - 50/12) MWh x 36 charged


@pytest.mark.parametrize("day, n15, n5", [(date(2026, 3, 8), 92, 276), (date(2026, 11, 1), 100, 300),
                                          (date(2026, 6, 1), 96, 288)])
def test_dst_days_have_92_or_100_and_276_or_300_intervals(day, n15, n5):
    fives_c = grid_of("ERCOT", day, 5)
    inp = MarketInputs(resource(withdraw=()), {"exp": flat(fives_c, 5, 1000)}, {},
                       prices("ERCOT", "TXDC1_RN", RT=flat(fives_c, 5, 10 * USD)))
    lines = shadow_settle(inp, day, day)
    assert lines.num_rows == n15
    assert set(x.isoformat() for x in lines.column("operating_date").to_pylist()) == {day.isoformat()}
    fives_e = grid_of("PJM", day, 5)
    sp = "PJM_PNODE_1"
    inp = MarketInputs(resource("PJM", "PJM_UNIT1", sp, withdraw=()), {"exp": flat(fives_e, 5, 1000)}, {},
                       {("RT", sp): PriceCurve(flat(fives_e, 5, 10 * USD))})
    assert shadow_settle(inp, day, day).num_rows == n5


def test_missing_meter_data_names_the_intervals():
    from engine.errors import DataMissingError
    fives = grid_of("ERCOT", D, 5)
    inp = MarketInputs(resource(withdraw=()), {"exp": flat(fives[:-3], 5, 1000)}, {},
                       prices("ERCOT", "TXDC1_RN", RT=flat(fives, 5, 10 * USD)))
    with pytest.raises(DataMissingError, match="exp: metered energy missing for 1 settlement interval"):
        shadow_settle(inp, D, D)


def test_a_huge_line_is_still_exact():
    hours = grid_of("ERCOT", D, 60)
    inp = MarketInputs(resource(kind="settlement_point", inject=(), withdraw=()), {},
                       {"da_sale": flat(hours[:1], 60, 3_000 * MW)},
                       prices("ERCOT", "TXDC1_RN", DA=flat(hours, 60, 5_000 * USD),
                              RT=flat(grid_of("ERCOT", D, 15), 15, 5_000 * USD)))
    t = totals(shadow_settle(inp, D, D))
    assert t["DAESAMT"] == -3_000 * 5_000 * 100
