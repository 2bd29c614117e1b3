"""Settlement shape: map per site (and day) -> combine in any grouping/order -> finalize.

Properties (hypothesis): lines sum to the total; a month equals the exact sum of its
days; any permutation or re-partition of sites and days gives identical results and
identical canonical invoice bytes; the vectorised terms equal plain-Python loops.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.calendar import nerc_holidays
from engine.contract import contract_sha256, parse_contract
from engine.invoice import build_invoice, invoice_bytes as stored_bytes
from engine.settlement import (MarketData, SitePartial, combine, finalize, required_market_data,
                               settle_period, settle_site)
from engine.timebase import US_PER_HOUR, local_month_bounds_us, to_us
from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

CHI = "America/Chicago"
PERIOD = "2027-03"                        # DST month (743 h) in contract year 2 (escalated)

DOC = minimal_doc([
    {"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": "64.00", "escalator_pct_per_year": "2.5",
     "tou": {"factors": {"on_peak": "1.125", "off_peak": "0.85"}}},
    {"id": "vppa", "kind": "vppa", "strike_usd_per_mwh": "42.50", "hedge_share": "0.7",
     "negative_price_rule": "zero_floor", "volume": ["pv1"]},
    {"id": "export_share", "kind": "export_share", "share_to_buyer": "0.4"},
    {"id": "take_or_pay", "kind": "take_or_pay", "contracted_mwh_per_month": "90000", "take_share": "0.9",
     "price_term": "energy_fixed", "bill_delivered": False},
], sites=["TX-DC1", "TX-DC2"], effective_from="2026-03-10", term={"start": "2026-03-10", "end": "2046-03-09"},
   delivered={"add": ["kind:generation"], "subtract": ["kind:grid_export"], "cap_at": ["kind:load"]})
CV = parse_contract(DOC)


def scenario(seed: int, minutes: int = 60):
    rng = np.random.default_rng(seed)
    b0, b1 = local_month_bounds_us(PERIOD, CHI)
    n = (b1 - b0) // (minutes * 60_000_000)
    per_h = minutes / 60

    def rnd(lo, hi):
        return rng.integers(int(lo * per_h), int(hi * per_h) + 1, n)

    sites = {}
    for sid in ("TX-DC1", "TX-DC2"):
        vals = {"pv1": rnd(0, 60_000_000), "dc": rnd(20_000_000, 90_000_000), "exp": rnd(0, 5_000_000)}
        if sid == "TX-DC1":
            vals.update(gt1=rnd(0, 200_000_000), bess_dis=rnd(0, 1_000_000))
        q = {"pv1": rng.choice(np.array(["A", "A", "A", "E", "N"]), n)}
        sites[sid] = (SITES[sid], series_for(sid, PERIOD, minutes, vals, quality=q))
    hub = flat_prices(b0, b1, 60, rng.integers(-30_000_000, 150_000_000, (b1 - b0) // US_PER_HOUR))
    def node() -> object:
        return flat_prices(b0, b1, minutes, rng.integers(-20_000_000, 90_000_000, n))
    dc1 = node()
    dc2 = node()
    market = MarketData(prices={("ERCOT", "HB_NORTH", "RT"): hub, ("ERCOT", "DC1_NODE", "RT"): dc1,
                                ("ERCOT", "DC2_NODE", "RT"): dc2})
    return sites, market


SITES_SERIES, MARKET = scenario(7)
WHOLE = settle_period([CV], PERIOD, SITES_SERIES, MARKET)


def invoice_bytes(result) -> bytes:
    return stored_bytes(build_invoice(result, contract=CV, contract_sha256=contract_sha256(DOC), version=1,
                                        status="draft", lineage={"run_id": "r1", "data_versions": {"meter": 1},
                                                                 "code_version": "test"}))


def test_whole_month_shape():
    r = WHOLE
    assert [ln.line_id for ln in r.lines] == ["energy_fixed:on_peak", "energy_fixed:off_peak", "vppa", "export_share",
                                             "take_or_pay:top_up"]
    # period-level top-up from the combined delivered energy of both sites (year 2: 64 x 1.025 = 65.60)
    top = r.lines[4]
    assert top.rate == "65.60" and top.quantity * 10**6 == 81_000 * 10**6 - r.delivered_wh > 0
    assert r.total_cents == sum(ln.amount_cents for ln in r.lines)
    assert r.site_ids == ("TX-DC1", "TX-DC2")
    assert r.vee["intervals_expected"] == 2 * 743
    assert r.vee["actual"] + r.vee["estimated"] + r.vee["missing"] == 2 * 743
    assert r.detail.num_rows == 2 * (743 * 3)       # 2 sites x 743 h x (TOU line + vppa + export)
    # export_share is a credit to the buyer (revenue received by the seller)
    assert r.lines[3].charge == "export_share"


def day_windows(period: str, tz: str) -> list[tuple[int, int]]:
    b0, b1 = local_month_bounds_us(period, tz)
    y, m = map(int, period.split("-"))
    d, out = date(y, m, 1), []
    while True:
        s = to_us(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)))
        if s >= b1:
            return out
        nd = d + timedelta(days=1)
        out.append((s, min(b1, to_us(datetime(nd.year, nd.month, nd.day, tzinfo=ZoneInfo(tz))))))
        d = nd


DAYS = day_windows(PERIOD, CHI)


def test_month_equals_exact_sum_of_its_days():
    day_partials = [settle_site([CV], PERIOD, site, series, MARKET, window=w)
                    for _, (site, series) in SITES_SERIES.items() for w in DAYS]
    month = combine([settle_site([CV], PERIOD, site, series, MARKET) for site, series in SITES_SERIES.values()])
    days = combine(day_partials)
    assert days.lines == month.lines                       # exact pico-dollar and Wh sums
    assert days.delivered_wh == month.delivered_wh and days.vee == month.vee
    assert days.detail.equals(month.detail)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=6))
def test_any_partition_and_order_gives_identical_bytes(rnd: random.Random, n_groups: int):
    # Split the (site, day) work units into arbitrary groups, combine each group in a random
    # order, then combine the groups in a random nested order.
    units = [(site, series, w) for site, series in SITES_SERIES.values() for w in DAYS]
    rnd.shuffle(units)
    partials = [settle_site([CV], PERIOD, s, ser, MARKET, window=w) for s, ser, w in units]
    groups: list[list[SitePartial]] = [[] for _ in range(n_groups)]
    for p in partials:
        groups[rnd.randrange(n_groups)].append(p)
    reduced = [combine(g) for g in groups if g]
    rnd.shuffle(reduced)
    while len(reduced) > 1:
        i = rnd.randrange(len(reduced) - 1)
        reduced[i:i + 2] = [combine([reduced[i + 1], reduced[i]])]
    r = finalize([CV], PERIOD, reduced[0])
    assert r.lines == WHOLE.lines and r.total_cents == WHOLE.total_cents
    assert r.detail.equals(WHOLE.detail)
    assert invoice_bytes(r) == invoice_bytes(WHOLE)


def test_combine_refuses_the_same_interval_twice_and_mixed_contracts():
    site, series = SITES_SERIES["TX-DC1"]
    p = settle_site([CV], PERIOD, site, series, MARKET, window=DAYS[0])
    with pytest.raises(ValueError, match="overlapping"):
        combine([p, p])
    with pytest.raises(ValueError, match="mixed"):
        combine([p, SitePartial.empty("OTHER", PERIOD)])


# --------------------------------------------------------------------------- scalar references
def _anniv_year(local_d: date, start: date) -> int:
    y = 0
    while True:
        try:
            a = start.replace(year=start.year + y)
        except ValueError:
            a = start.replace(year=start.year + y, day=28)
        if a > local_d:
            return y
        y += 1


def reference_energy_fixed(cv, site_id: str, series, tz=CHI) -> dict[str, int]:
    """Plain-Python loop: one interval at a time through zoneinfo and Fractions."""
    t = cv.term("energy_fixed").params
    gen = [n for n, c in SITES[site_id].channels.items() if c.kind == "generation"]
    exp = [n for n, c in SITES[site_id].channels.items() if c.kind == "grid_export"]
    load = [n for n, c in SITES[site_id].channels.items() if c.kind == "load"]
    g = series[gen[0]].grid_us
    out = {"energy_fixed:on_peak": 0, "energy_fixed:off_peak": 0}
    ok = {n: np.isin(series[n].quality, ["A", "E", "S", "F"]) for n in series}
    for i, us in enumerate(g.tolist()):
        e = lambda names: sum(int(series[n].energy_wh[i]) if ok[n][i] else 0 for n in names)
        d = min(max(e(gen) - e(exp), 0), e(load))
        lt = datetime.fromtimestamp(us / 1e6, tz=timezone.utc).astimezone(ZoneInfo(tz))
        on = 7 <= lt.hour + 1 <= 22 and lt.weekday() <= 5 and lt.date() not in nerc_holidays(lt.year)
        year = _anniv_year(lt.date(), cv.term_start)
        factor = t.tou.on_peak if on else t.tou.off_peak
        rate = round(t.price * (1 + t.escalator_pct / 100) ** (year - 1) * factor * 10**6)
        out["energy_fixed:on_peak" if on else "energy_fixed:off_peak"] += d * rate
    return out


def reference_vppa(cv, series, hub) -> int:
    p = cv.term("vppa").params
    prices = dict(zip(hub.start_us.tolist(), hub.lmp_microusd_per_mwh.tolist()))
    total = 0
    for i, us in enumerate(series["pv1"].grid_us.tolist()):
        hour = us - (us % US_PER_HOUR)
        price = max(prices[hour], 0)                                   # zero_floor
        v = int(series["pv1"].energy_wh[i]) if series["pv1"].quality[i] != "N" else 0
        total += v * round(p.hedge_share * (p.strike * 10**6 - price))
    return total


@pytest.mark.parametrize("sid", ["TX-DC1", "TX-DC2"])
def test_vectorised_terms_equal_scalar_reference(sid):
    site, series = SITES_SERIES[sid]
    part = settle_site([CV], PERIOD, site, series, MARKET)
    got = {ls.line_id: ls.amount_picousd for ls in part.lines}
    ref = reference_energy_fixed(CV, sid, series)
    assert got["energy_fixed:on_peak"] == ref["energy_fixed:on_peak"]
    assert got["energy_fixed:off_peak"] == ref["energy_fixed:off_peak"]
    assert got["vppa"] == reference_vppa(CV, series, MARKET.prices[("ERCOT", "HB_NORTH", "RT")])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=10**6))
def test_lines_sum_to_total_and_scalar_reference_on_random_data(seed):
    sites_series, market = scenario(seed)
    r = settle_period([CV], PERIOD, sites_series, market)
    assert r.total_cents == sum(ln.amount_cents for ln in r.lines)
    site, series = sites_series["TX-DC2"]
    part = settle_site([CV], PERIOD, site, series, market)
    got = {ls.line_id: ls.amount_picousd for ls in part.lines}
    assert got["vppa"] == reference_vppa(CV, series, market.prices[("ERCOT", "HB_NORTH", "RT")])


def test_required_market_data_names_series_and_ranges():
    needs = required_market_data([CV], PERIOD, SITES)
    b0, b1 = local_month_bounds_us(PERIOD, CHI)
    assert needs.prices == {("ERCOT", "HB_NORTH", "RT"): (b0 - US_PER_HOUR, b1),
                            ("ERCOT", "DC1_NODE", "RT"): (b0 - US_PER_HOUR, b1),
                            ("ERCOT", "DC2_NODE", "RT"): (b0 - US_PER_HOUR, b1)}
    assert needs.indices == {}


def test_missing_hub_prices_raise_naming_the_series():
    from engine.errors import DataMissingError
    market = MarketData(prices={k: v for k, v in MARKET.prices.items() if k[1] != "HB_NORTH"})
    site, series = SITES_SERIES["TX-DC1"]
    with pytest.raises(DataMissingError, match=r"prices ERCOT/HB_NORTH/RT: missing for 743 interval"):
        settle_site([CV], PERIOD, site, series, market)


def test_amendment_mid_month_splits_lines_by_version():
    v1 = parse_contract(minimal_doc([{"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": "50"}]))
    v2 = parse_contract(minimal_doc([{"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": "40"}],
                                    version=2, effective_from="2026-10-16"))
    s = series_for("TX-DC1", "2026-10", 60, {"pv1": 1_000_000})
    r = settle_period([v1, v2], "2026-10", {"TX-DC1": (SITES["TX-DC1"], s)}, MarketData())
    # October 2026 has 744 h in Chicago (DST ends Nov 1). v2 starts at local midnight Oct 16.
    # v1: Oct 1..15 = 15 x 24 = 360 h x $50 = 18,000.00; v2: 744 - 360 = 384 h x $40 = 15,360.00
    assert [(ln.line_id, str(ln.quantity), ln.rate, ln.amount_cents) for ln in r.lines] == [
        ("energy_fixed@v1", "360.000000", "50.00", 1_800_000),
        ("energy_fixed@v2", "384.000000", "40.00", 1_536_000)]
    assert r.contract_version == 2 and r.contract_versions == (1, 2)


@pytest.mark.parametrize("sid", ["TX-DC1", "TX-DC2"])
def test_a_site_partials_detail_is_built_in_the_detail_order(sid):
    from engine.settlement import _sort_detail
    site, series = SITES_SERIES[sid]
    detail = settle_site([CV], PERIOD, site, series, MARKET).detail
    assert detail.num_rows and len(set(detail.column("line_id").to_pylist())) > 1
    resorted, overlap = _sort_detail(detail)
    assert resorted.equals(detail) and not overlap
