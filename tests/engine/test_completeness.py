"""engine.completeness: counts per site-month and channel, limits, the gate's verdict,
market coverage; the contract and registry fields; the estimated invoice (issue 12, 1)."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from engine.completeness import (DEFAULT_LIMITS, CompletenessLimits, SiteMonthCompleteness,
                                 channels_read, contract_limits, describe, invoice_block,
                                 is_short, market_gaps, resolve_limits, shortfalls,
                                 site_month_completeness)
from engine.contract import parse_contract
from engine.errors import ContractError, ValidationError
from engine.invoice import build_invoice, render_html
from engine.settlement import MarketData, finalize, settle_site
from engine.sites import parse_sites, sites_to_doc
from engine.timebase import US_PER_DAY, local_month_bounds_us
from engine.vee import VeeCounts

from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

PERIOD = "2026-10"
TZ = "America/Chicago"
N5 = 31 * 24 * 12                        # 5-minute intervals of October 2026 in Chicago


def _limits(est: str, mis: str) -> CompletenessLimits:
    return CompletenessLimits(Decimal(est), Decimal(mis))


def _with_quality(series: dict, channel: str, letters: np.ndarray) -> dict:
    from engine.delivered import ChannelSeries
    s = series[channel]
    return {**series, channel: ChannelSeries(s.grid_us, np.where(letters == "N", 0, s.energy_wh),
                                             letters, s.method, s.minutes)}


def _quality(n: int, estimated: slice | None = None, missing: slice | None = None) -> np.ndarray:
    q = np.full(n, "A", dtype="<U1")
    if estimated is not None:
        q[estimated] = "E"
    if missing is not None:
        q[missing] = "N"
    return q


# ------------------------------------------------------------------------------ limits
def test_limits_resolve_per_field_contract_then_site_then_default():
    assert DEFAULT_LIMITS == _limits("5", "0")
    assert resolve_limits(None, None) == _limits("5", "0")
    site = CompletenessLimits(max_estimated_pct=Decimal("12.5"))
    assert resolve_limits(None, site) == _limits("12.5", "0")
    contract = CompletenessLimits(max_missing_pct=Decimal("1"))
    assert resolve_limits(contract, site) == _limits("12.5", "1")
    assert resolve_limits(_limits("2", "0.5"), site) == _limits("2", "0.5")


def test_the_contract_field_is_in_the_schema_and_validated():
    doc = minimal_doc([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "50"}],
                      completeness={"max_estimated_pct": "7.5"})
    parse_contract(doc)
    assert contract_limits(doc) == CompletenessLimits(max_estimated_pct=Decimal("7.5"))
    assert contract_limits(minimal_doc([])) is None
    for bad, field in [({"max_estimated_pct": "101"}, "completeness.max_estimated_pct"),
                       ({"max_estimated_pct": 5}, "completeness.max_estimated_pct"),
                       ({"max_missing_pct": "-1"}, "completeness.max_missing_pct"),
                       ({"max_lost_pct": "1"}, "completeness.max_lost_pct"),
                       ({}, "completeness")]:
        with pytest.raises(ContractError, match=f"{field.replace('.', '[.]')}"):
            parse_contract({**doc, "completeness": bad})


def test_the_site_registry_field_round_trips_and_names_the_bad_field():
    doc = {"sites": [{"site_id": "S", "timezone": TZ, "channels": {"dc": {"kind": "load"}},
                      "completeness": {"max_estimated_pct": 10, "max_missing_pct": "0.5"}}]}
    site = parse_sites(doc)["S"]
    assert site.completeness == _limits("10", "0.5")
    assert parse_sites(sites_to_doc({"S": site}))["S"].completeness == site.completeness
    assert "completeness" not in sites_to_doc(SITES)["sites"][0]       # unchanged when unset
    doc["sites"][0]["completeness"] = {"max_estimated_pct": 2.5}
    with pytest.raises(ValidationError, match=r"sites\[0\]\.completeness\.max_estimated_pct.*quote"):
        parse_sites(doc)


@pytest.mark.parametrize("estimated, missing, limits, short", [
    (446, 0, ("5", "0"), False),            # 446 / 8928 = 4.996 %
    (447, 0, ("5", "0"), True),             # 5.007 %
    (0, 1, ("5", "0"), True),               # one missing interval is short by default
    (0, 89, ("5", "1"), False),             # 0.997 %
    (0, 90, ("5", "1"), True),
    (8928, 0, ("100", "0"), False),
])
def test_a_count_is_short_beyond_either_limit_exactly(estimated, missing, limits, short):
    counts = VeeCounts(8928, 8928 - estimated - missing, estimated, missing)
    assert is_short(counts, _limits(*limits)) is short


# ------------------------------------------------------------------------------ counts
def _contract(**over):
    terms = [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "50.00"}]
    return parse_contract(minimal_doc(terms, **{"delivered": {"add": ["pv1"], "cap_at": ["dc"]},
                                                **over}))


def test_counts_per_channel_and_for_the_site_are_what_the_invoice_bills():
    cv = _contract()
    series = series_for("TX-DC1", PERIOD, 5, {"pv1": 1000, "dc": 5000})
    series = _with_quality(series, "pv1", _quality(N5, estimated=slice(100, 130)))
    series = _with_quality(series, "dc", _quality(N5, estimated=slice(120, 140), missing=slice(500, 503)))
    m = site_month_completeness([cv], PERIOD, SITES["TX-DC1"], series, DEFAULT_LIMITS)
    assert channels_read(cv, SITES["TX-DC1"]) == ["dc", "pv1"]
    assert m.channels == {"pv1": VeeCounts(N5, N5 - 30, 30, 0),
                          "dc": VeeCounts(N5, N5 - 23, 20, 3)}
    # the site: worst of the channels read, per interval (100..139 estimated, 3 missing)
    assert m.site == VeeCounts(N5, N5 - 43, 40, 3)
    partial = settle_site([cv], PERIOD, SITES["TX-DC1"], series, MarketData())
    assert m.site.to_dict() == partial.vee
    assert SiteMonthCompleteness.from_dict(m.to_dict()) == m
    found = shortfalls(cv.contract_id, [m])
    assert [(s.site_id, s.channel) for s in found] == [("TX-DC1", None), ("TX-DC1", "dc")]


def test_only_the_intervals_a_version_in_force_covers_are_counted():
    """A site added by an amendment on the 16th: its first half-month is not billed,
    so its missing data there is not a shortfall."""
    v1 = _contract(sites=["TX-DC2"])
    v2 = parse_contract({**minimal_doc([{"id": "energy", "kind": "energy_fixed",
                                         "price_usd_per_mwh": "50.00"}]),
                         "version": 2, "effective_from": "2026-10-16", "sites": ["TX-DC1", "TX-DC2"]})
    series = series_for("TX-DC1", PERIOD, 5, {"pv1": 1000})
    b0, _ = local_month_bounds_us(PERIOD, TZ)
    half = int((series["pv1"].grid_us < b0 + 15 * US_PER_DAY).sum())
    series = _with_quality(series, "pv1", _quality(N5, missing=slice(0, half)))
    m = site_month_completeness([v1, v2], PERIOD, SITES["TX-DC1"], series, DEFAULT_LIMITS)
    assert m.site == m.channels["pv1"] == VeeCounts(N5 - half, N5 - half, 0, 0)
    assert shortfalls("T-1", [m]) == []


def test_describe_lists_every_shortfall_with_its_counts():
    full = VeeCounts(N5, 0, 0, N5)
    entries = [SiteMonthCompleteness("TX-DC1", PERIOD, DEFAULT_LIMITS, full, {"pv1": full, "dc": full}),
               SiteMonthCompleteness("TX-DC2", PERIOD, _limits("5", "1"), VeeCounts(N5, N5, 0, 0),
                                     {"pv1": VeeCounts(N5, N5 - 500, 500, 0)})]
    found = shortfalls("A", entries) + shortfalls("B", entries[1:])
    text = describe(found)
    assert f"2 contract-period(s) ({len(found)} site/channel shortfall(s))" in text
    assert "--allow-incomplete" in text
    assert f"A 2026-10 site TX-DC1 (all channels read): {N5} intervals, 0 estimated (0.00 % <= 5 %), " \
           f"{N5} missing (100.00 % > 0 %)" in text
    assert "A 2026-10 site TX-DC1 channel dc:" in text and "A 2026-10 site TX-DC1 channel pv1:" in text
    assert "B 2026-10 site TX-DC2 channel pv1: 8928 intervals, 500 estimated (5.60 % > 5 %)" in text
    block = invoice_block(shortfalls("B", entries[1:]))
    assert block == {"override": "allow_incomplete", "shortfalls": [{
        "site_id": "TX-DC2", "channel": "pv1", "intervals_expected": N5, "actual": N5 - 500,
        "estimated": 500, "missing": 0, "estimated_pct": "5.60", "missing_pct": "0.00",
        "max_estimated_pct": "5", "max_missing_pct": "1"}]}


# ------------------------------------------------------------------------------ market
def test_market_gaps_name_every_series_the_terms_cannot_price():
    terms = [{"id": "vppa", "kind": "vppa", "strike_usd_per_mwh": "40.00", "hedge_share": "1"},
             {"id": "export", "kind": "export_share", "share_to_buyer": "0.5"}]
    cv = parse_contract(minimal_doc(terms))
    series = series_for("TX-DC1", PERIOD, 5, {"pv1": 1000, "exp": 10})
    b0, b1 = local_month_bounds_us(PERIOD, TZ)
    full = flat_prices(b0 - 3_600_000_000, b1, 60, 30_000_000)
    complete = MarketData({("ERCOT", "HB_NORTH", "RT"): full, ("ERCOT", "DC1_NODE", "RT"): full})
    assert market_gaps([cv], PERIOD, SITES["TX-DC1"], series, complete) == []
    short_hub = flat_prices(b0, b1 - 2 * 3_600_000_000, 60, 30_000_000)
    gaps = market_gaps([cv], PERIOD, SITES["TX-DC1"], series,
                       MarketData({("ERCOT", "HB_NORTH", "RT"): short_hub}))
    assert len(gaps) == 2
    assert gaps[0].startswith("prices ERCOT/HB_NORTH/RT: missing for 24 interval(s)")
    assert gaps[1].startswith(f"prices ERCOT/DC1_NODE/RT: missing for {N5} interval(s)")


# ------------------------------------------------------------------------------ invoice
def test_an_estimated_invoice_carries_its_shortfalls_and_a_banner():
    cv = _contract()
    series = series_for("TX-DC1", PERIOD, 5, {"pv1": 1000, "dc": 5000})
    result = finalize([cv], PERIOD, settle_site([cv], PERIOD, SITES["TX-DC1"], series, MarketData()))
    block = invoice_block(shortfalls("T-1", [SiteMonthCompleteness(
        "TX-DC1", PERIOD, DEFAULT_LIMITS, VeeCounts(N5, N5 - 20, 0, 20), {})]))
    kw = dict(contract=cv, contract_sha256="0" * 64, version=1, lineage={})
    doc = build_invoice(result, status="estimated", completeness=block, **kw)
    assert doc["status"] == "estimated" and doc["completeness"] == block
    html = render_html(doc)
    assert "ESTIMATED: this invoice rests on meter data beyond its completeness limits" in html
    assert "20 (0.22 %; max 0 %)" in html and "explicitly accepting" in html
    draft = build_invoice(result, status="draft", **kw)
    assert "completeness" not in draft and "ESTIMATED" not in render_html(draft)
    with pytest.raises(ValueError):
        build_invoice(result, status="estimated", **kw)
    with pytest.raises(ValueError):
        build_invoice(result, status="draft", completeness=block, **kw)
