"""Battery re-dispatch (engine.dispatch): the issue's golden cases and others derived
from first principles (efficiency below 1, a cycle limit, DST days, 5-minute
resolution, rolling windows handing the state of charge on, minimum import cost),
solved by HiGHS through the sparse LP."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from engine.dispatch import Battery, Objective, solve, to_wh, window_labels
from engine.dispatch.windows import local_days
from engine.errors import InfeasibleError
from engine.timebase import US_PER_HOUR, US_PER_MINUTE, local_midnight_us



def arbitrage(b: Battery, prices, hours: float = 1.0, day=None, windows=None):
    p = np.asarray(prices, dtype=float)
    return solve(b, Objective("arbitrage", price=p), hours,
                 day=np.zeros(p.size, dtype=np.int64) if day is None else day, windows=windows)


def test_golden_arbitrage_from_empty():
    """4 MW / 6 MWh, efficiency 1, hourly, empty; [10, 50, 10, 5000, 10] USD/MWh:
    net import [+4, -4, +4, -4, 0] MW and 20,120 USD (-40 + 200 - 40 + 20,000)."""
    r = arbitrage(Battery(4, 4, 6), [10, 50, 10, 5000, 10])
    np.testing.assert_allclose(r.charge_mwh - r.discharge_mwh, [4, -4, 4, -4, 0], atol=1e-7)
    assert r.value_usd == pytest.approx(20_120, abs=1e-6)
    assert r.windows == 1


def test_golden_discharge_from_full():
    """Starting full (6 MWh), prices [20, 10, 10]: discharge [4, 2, 0] MW, 100 USD; the
    equally good [4, 0, 2] is not taken (discharge earliest), nor a charge and a
    discharge in one interval."""
    r = arbitrage(Battery(4, 4, 6, soc_initial_mwh=6), [20, 10, 10])
    np.testing.assert_allclose(r.discharge_mwh, [4, 2, 0], atol=1e-7)
    np.testing.assert_allclose(r.charge_mwh, [0, 0, 0], atol=1e-7)
    assert r.value_usd == pytest.approx(100, abs=1e-6)


def test_round_trip_efficiency():
    """eta = 0.81 (0.9 each way), 1 MW / 1 MWh, empty, [0, 100]: 1 MWh bought stores 0.9,
    which gives back 0.81 MWh: 81 USD. At [50, 60] the cycle loses (0.81 x 60 = 48.6 <
    50): nothing. At [50, 62] it wins by 0.22 USD."""
    b = Battery(1, 1, 1, round_trip_efficiency=0.81)
    r = arbitrage(b, [0, 100])
    np.testing.assert_allclose([r.charge_mwh[0], r.discharge_mwh[1]], [1, 0.81], atol=1e-7)
    assert r.value_usd == pytest.approx(81, abs=1e-6)
    assert arbitrage(b, [50, 60]).value_usd == pytest.approx(0, abs=1e-6)
    r = arbitrage(b, [50, 62])
    assert r.value_usd == pytest.approx(0.81 * 62 - 50, abs=1e-6)
    assert r.soc_mwh[-1] == pytest.approx(0, abs=1e-7)


def test_cycle_limit_per_local_day():
    """Two cheap/dear pairs in one day: one full cycle a day allows one (100 USD of the
    200 without the limit); the same prices over two days, one each (200)."""
    b = Battery(1, 1, 1)
    prices = [0, 100, 0, 100]
    assert arbitrage(b, prices).value_usd == pytest.approx(200, abs=1e-6)
    limited = Battery(1, 1, 1, cycles_per_day=1)
    r = arbitrage(limited, prices)
    assert r.value_usd == pytest.approx(100, abs=1e-6)
    assert r.discharge_mwh.sum() == pytest.approx(1, abs=1e-7)
    two_days = arbitrage(limited, prices, day=np.array([0, 0, 1, 1]))
    assert two_days.value_usd == pytest.approx(200, abs=1e-6)
    # a usable depth of 0.5 MWh (SoC 0.25..0.75) and 1.5 cycles: 0.75 MWh a day
    half = Battery(1, 1, 1, soc_min_mwh=0.25, soc_max_mwh=0.75, soc_initial_mwh=0.25, cycles_per_day=1.5)
    r = arbitrage(half, [0, 100, 0, 100, 0, 100])
    assert r.discharge_mwh.sum() == pytest.approx(0.75, abs=1e-7)


def test_dst_days_and_windows():
    """Hourly over 2026-03-07..09 in America/Chicago: the spring-forward day has 23
    intervals, its own cycle budget and its own day window."""
    tz = "America/Chicago"
    start, end = local_midnight_us(date(2026, 3, 7), tz), local_midnight_us(date(2026, 3, 10), tz)
    starts = np.arange(start, end, US_PER_HOUR, dtype=np.int64)
    days = local_days(starts, tz)
    labels = window_labels(days, "day")
    assert [int((labels == d).sum()) for d in np.unique(labels)] == [24, 23, 24]
    hour = np.arange(starts.size) % 24
    prices = np.where(hour < 12, 10.0, 90.0)                 # cheap mornings, dear afternoons
    b = Battery(1, 1, 1, cycles_per_day=1)
    r = solve(b, Objective("arbitrage", price=prices), 1.0, day=days, windows=labels)
    per_day = [r.discharge_mwh[days == d].sum() for d in np.unique(days)]
    np.testing.assert_allclose(per_day, [1, 1, 1], atol=1e-7)
    assert r.windows == 3
    assert r.value_usd == pytest.approx(3 * 80, abs=1e-4)


def test_five_minute_resolution():
    """12 five-minute intervals at 10 USD then 12 at 100: 1 MW / 1 MWh charges 1/12 MWh
    each cheap interval (1 MW for 5 minutes) and sells it back dear: 90 USD."""
    prices = [10.0] * 12 + [100.0] * 12
    r = arbitrage(Battery(1, 1, 1), prices, hours=5 / 60)
    np.testing.assert_allclose(r.charge_mwh[:12], 1 / 12, atol=1e-9)
    np.testing.assert_allclose(r.discharge_mwh[12:], 1 / 12, atol=1e-9)
    assert r.value_usd == pytest.approx(90, abs=1e-6)
    assert to_wh(r.charge_mwh).sum() == 1_000_000 - 4         # 12 x round(83,333.33 Wh)


def test_rolling_windows_hand_the_state_of_charge_on():
    """Day 1 cheap, day 2 dear: perfect foresight buys on day 1 to sell on day 2 (90
    USD); day windows cannot see day 2 from day 1 (0). Starting full, the day-2 window
    receives what day 1 left (it holds: discharging at 10 earns less than at 100)."""
    prices, day = [10.0, 10.0, 100.0, 100.0], np.array([0, 0, 1, 1])
    b = Battery(1, 1, 1)
    perfect = arbitrage(b, prices, day=day)
    assert perfect.value_usd == pytest.approx(90, abs=1e-6)
    rolling = arbitrage(b, prices, day=day, windows=window_labels(day, "day"))
    assert rolling.value_usd == pytest.approx(0, abs=1e-6) and rolling.windows == 2
    full = Battery(1, 1, 1, soc_initial_mwh=1)
    r = arbitrage(full, prices, day=day, windows=window_labels(day, "day"))
    assert r.discharge_mwh[:2].sum() == pytest.approx(1, abs=1e-7)       # myopic: sold on day 1
    assert r.value_usd == pytest.approx(10, abs=1e-6)


def test_min_import_cost():
    """A 2 MWh load at 10 USD then at 100: the battery (2 MW / 2 MWh, empty) buys 2 MWh
    in the cheap hour for the dear one; the imports cost 2 x 10 + 2 x 10 = 40 (was 220).
    Exports earn nothing: it never discharges beyond the load."""
    net = np.array([2.0, 2.0])
    r = solve(Battery(2, 2, 2), Objective("min_import_cost", price=np.array([10.0, 100.0]), net_import_mwh=net),
              1.0, day=np.zeros(2, dtype=np.int64))
    np.testing.assert_allclose([r.charge_mwh[0], r.discharge_mwh[1]], [2, 2], atol=1e-7)
    assert r.value_usd == pytest.approx(-40, abs=1e-6)
    # surplus at the dear hour (net -1): discharging there would be an unpaid export
    r = solve(Battery(2, 2, 2, soc_initial_mwh=2),
              Objective("min_import_cost", price=np.array([100.0, 50.0]), net_import_mwh=np.array([-1.0, 1.0])),
              1.0, day=np.zeros(2, dtype=np.int64))
    assert r.discharge_mwh[0] == pytest.approx(0, abs=1e-7) and r.discharge_mwh[1] == pytest.approx(1, abs=1e-7)


def test_contract_revenue_objective_uses_the_given_marginals():
    v = np.array([30.0, 80.0, 20.0])
    r = solve(Battery(1, 1, 1), Objective("max_contract_revenue", discharge_value=v, charge_value=-v),
              1.0, day=np.zeros(3, dtype=np.int64))
    assert r.value_usd == pytest.approx(50, abs=1e-6)                    # buy at 30, sell at 80


def test_an_unreachable_final_state_of_charge_is_infeasible():
    b = Battery(0.1, 0.1, 1, soc_final_mwh=1)                           # 2 h x 0.1 MW < 1 MWh
    with pytest.raises(InfeasibleError, match="window 1 of 1"):
        arbitrage(b, [10, 20])


@pytest.mark.parametrize("kwargs, field", [
    ({"charge_mw": 0}, "charge_mw"), ({"energy_mwh": -1}, "energy_mwh"),
    ({"round_trip_efficiency": 1.2}, "round_trip_efficiency"),
    ({"soc_min_mwh": 5, "soc_max_mwh": 3}, "soc_min"), ({"soc_initial_mwh": 7}, "soc_initial"),
    ({"cycles_per_day": 0}, "cycles_per_day")])
def test_infeasible_batteries_are_named(kwargs, field):
    b = Battery(**{"charge_mw": 4, "discharge_mw": 4, "energy_mwh": 6, **kwargs})
    assert field in [f for f, _ in b.problems()]


def test_one_site_week_of_five_minute_prices_hands_on_in_weeks():
    """Two local weeks of 5-minute prices (4,020 intervals) in week windows and perfect
    foresight: perfect is never worse; both respect every bound."""
    tz = "America/Chicago"
    start = local_midnight_us(date(2026, 3, 2), tz)                     # a Monday; DST on the 8th
    starts = np.arange(start, local_midnight_us(date(2026, 3, 16), tz), 5 * US_PER_MINUTE, dtype=np.int64)
    assert starts.size == 14 * 288 - 12
    rng = np.random.default_rng(4)
    hour = (np.arange(starts.size) // 12) % 24
    prices = 30 + 20 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(0, 5, starts.size)
    days = local_days(starts, tz)
    b = Battery(50, 50, 200, round_trip_efficiency=0.88, soc_min_mwh=20, soc_max_mwh=190,
                soc_initial_mwh=100, cycles_per_day=1.5)
    week = solve(b, Objective("arbitrage", price=prices), 5 / 60, day=days, windows=window_labels(days, "week"))
    perfect = solve(b, Objective("arbitrage", price=prices), 5 / 60, day=days)
    assert week.windows == 2 and perfect.value_usd >= week.value_usd - 1e-6
    for r in (week, perfect):
        assert r.soc_mwh.min() >= 20 - 1e-6 and r.soc_mwh.max() <= 190 + 1e-6
        assert r.charge_mwh.max() <= 50 / 12 + 1e-9
        for d in np.unique(days):
            assert r.discharge_mwh[days == d].sum() <= 1.5 * 170 + 1e-6
