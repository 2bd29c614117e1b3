"""Properties: node and hub agree when every price component is equal across them (NPRR
355's intent for ERCOT; PJM's components line by line); totals never depend on how the
range is cut; a sum of lines is a total."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.market.inputs import MarketInputs, PriceCurve
from engine.market.shadow import shadow_settle, totals
from tests.support.market import ercot_day, flat, grid_of, resource

D = date(2026, 3, 8)          # a 23-hour ERCOT day


def at_node(inp: MarketInputs, node: str) -> MarketInputs:
    prices = {(run, node): curve for (run, _), curve in inp.prices.items()}
    return replace(inp, resource=replace(inp.resource, settlement_point=node), prices=prices)


def comparable(lines):
    return lines.drop(["settlement_point"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), base_points=st.booleans())
def test_ercot_node_and_hub_agree_when_their_prices_are_equal(seed, base_points):
    inp = ercot_day(D, rng=np.random.default_rng(seed), base_points=base_points)
    node = shadow_settle(inp, D, D)
    hub = shadow_settle(at_node(inp, "HB_NORTH"), D, D)
    assert comparable(node).equals(comparable(hub))
    assert totals(node) == totals(hub)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_pjm_components_node_and_hub(seed):
    rng = np.random.default_rng(seed)
    day = date(2026, 11, 1)               # 300 five-minute intervals
    hours, fives = grid_of("PJM", day, 60), grid_of("PJM", day, 5)

    def curve(starts, minutes, congestion):
        energy = rng.integers(-10_000_000, 90_000_000, starts.size)
        loss = rng.integers(-2_000_000, 2_000_000, starts.size)
        return energy, loss, congestion
    e_da, l_da, _ = curve(hours, 60, None)
    e_rt, l_rt, _ = curve(fives, 5, None)

    def node_prices(c_da, c_rt):
        return {("DA", "X"): PriceCurve(flat(hours, 60, e_da + c_da + l_da),
                                        {"energy": flat(hours, 60, e_da),
                                         "congestion": flat(hours, 60, c_da),
                                         "loss": flat(hours, 60, l_da)}),
                ("RT", "X"): PriceCurve(flat(fives, 5, e_rt + c_rt + l_rt),
                                        {"energy": flat(fives, 5, e_rt),
                                         "congestion": flat(fives, 5, c_rt),
                                         "loss": flat(fives, 5, l_rt)})}
    meter = {"exp": flat(fives, 5, rng.integers(0, 8_000_000, fives.size))}
    awards = {"da_sale": flat(hours, 60, rng.integers(0, 90, hours.size) * 1_000_000)}
    c_da, c_rt = rng.integers(-5_000_000, 5_000_000, hours.size), rng.integers(-5_000_000, 5_000_000,
                                                                             fives.size)
    node = MarketInputs(resource("PJM", "U", "X", withdraw=()), meter, awards, node_prices(c_da, c_rt))
    same = shadow_settle(node, day, day)
    hub = shadow_settle(at_node(node, "HUB"), day, day)
    assert comparable(same).equals(comparable(hub))
    # a hub whose congestion differs: the energy and loss lines still agree, congestion does not
    other = replace(at_node(node, "HUB"), prices={
        (run, "HUB"): c for (run, _), c in node_prices(c_da * 0, c_rt * 0).items()})
    t_node, t_hub = totals(same), totals(shadow_settle(other, day, day))
    for item in ("1200", "1220", "1205", "1225"):
        assert t_node[item] == t_hub[item]
    assert t_hub["1210"] == 0 and t_hub["1215"] == 0


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), cut=st.integers(1, 3))
def test_a_range_settled_in_pieces_gives_the_same_lines(seed, cut):
    rng = np.random.default_rng(seed)
    days = [date(2025, 12, 3) + timedelta(days=i) for i in range(4)]      # across RTC+B
    parts = [ercot_day(d, rng=rng) for d in days]
    merged = MarketInputs(parts[0].resource,
                          {c: _cat([p.meter[c] for p in parts]) for c in parts[0].meter},
                          {a: _cat([p.awards[a] for p in parts]) for a in parts[0].awards},
                          {k: PriceCurve(_cat([p.prices[k].lmp for p in parts])) for k in parts[0].prices})
    whole = shadow_settle(merged, days[0], days[-1])
    pieces = [shadow_settle(merged, days[0], days[cut - 1]), shadow_settle(merged, days[cut], days[-1])]
    import pyarrow as pa
    joined = pa.concat_tables(pieces)
    order = pc.sort_indices(joined, sort_keys=[("charge_type", "ascending"),
                                               ("interval_start_utc", "ascending")])
    assert joined.take(order).equals(whole)
    assert sum(totals(whole).values()) == int(pc.sum(whole.column("amount_cents")).as_py())


def _cat(series):
    from engine.market.series import Series
    return Series.of(np.concatenate([s.start_us for s in series]),
                     np.concatenate([s.minutes for s in series]),
                     np.concatenate([s.values for s in series]))
