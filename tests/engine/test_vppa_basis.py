"""vppa with a basis (buyer's adjusted strike, project's realised node price) and the
capture and effective prices on the invoice line, against hand arithmetic.

One worked month for every case: October 2026 in Chicago (744 local hours, no DST
change), hourly hub prices and hourly solar volume repeating in three groups of
248 hours each::

    group   hub P     volume V    P x V
    A       20.00     2 MWh       40.00
    B       45.00     1 MWh       45.00
    C      -10.00     3 MWh      -30.00
    month             1488 MWh    248 x 55 = 13,640.00 USD

    capture price = 13,640 / 1,488 = 9.1666... -> "9.166667" (display, 6 places)
"""
from __future__ import annotations

import copy
import re
from fractions import Fraction

import numpy as np
import pytest

from engine.contract import contract_sha256, parse_contract
from engine.errors import ContractError
from engine.invoice import build_invoice, invoice_bytes, render_html
from engine.settlement import MarketData, combine, finalize, settle_period, settle_site
from engine.timebase import US_PER_HOUR, local_month_bounds_us
from jobs.settle_inputs import partial_from_dict, partial_to_dict
from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

PERIOD = "2026-10"
B0, B1 = local_month_bounds_us(PERIOD, "America/Chicago")
MWH = 1_000_000
HUB = ("ERCOT", "HB_NORTH", "RT")
NODE = ("ERCOT", "DC1_NODE", "RT")


def _group(starts: np.ndarray) -> np.ndarray:
    return ((starts - B0) // US_PER_HOUR) % 3


def _by_group(values) -> callable:
    return lambda starts: np.asarray(values, dtype=np.int64)[_group(starts)]


HUB_PRICES = flat_prices(B0 - US_PER_HOUR, B1, 60, _by_group([20_000_000, 45_000_000, -10_000_000]))
SERIES = series_for("TX-DC1", PERIOD, 60, {"pv1": _by_group([2 * MWH, 1 * MWH, 3 * MWH])})


def vppa_doc(**params) -> dict:
    return minimal_doc([{"id": "vppa", "kind": "vppa", "strike_usd_per_mwh": "42.50", **params}])


def settle(doc: dict, prices: dict | None = None):
    cv = parse_contract(doc)
    market = MarketData({HUB: HUB_PRICES, **(prices or {})})
    return cv, settle_period([cv], PERIOD, {"TX-DC1": (SITES["TX-DC1"], SERIES)}, market)


def test_the_worked_month_is_what_the_module_docstring_says():
    assert _group(np.array([B0, B1 - US_PER_HOUR])).tolist() == [0, 2]    # 744 = 3 x 248
    assert int(SERIES["pv1"].energy_wh.sum()) == 1488 * MWH


def test_without_basis_the_line_is_unchanged_and_shows_capture_and_effective_price():
    # amount = (42.50 - P) x V: A 22.50 x 2 = 45.00, B -2.50 x 1 = -2.50, C 52.50 x 3 = 157.50
    # -> 248 x 200.00 = 49,600.00; effective = (13,640 + 49,600) / 1,488 = 42.50 = K
    _, r = settle(vppa_doc())
    (ln,) = r.lines
    assert (ln.amount_cents, str(ln.quantity), r.total_cents) == (4_960_000, "1488.000000", 4_960_000)
    assert ln.description == "VPPA settlement at ERCOT HB_NORTH RT, strike $42.5/MWh, hedge share 1"
    assert ln.determinants == {"volume_mwh": "1488.000000", "capture_price_usd_per_mwh": "9.166667",
                               "effective_price_usd_per_mwh": "42.50"}


def test_adjusted_strike_is_k_plus_basis_settled_at_the_hub():
    # K' = 42.50 + (-1.50) = 41.00; amount = 41 x 1,488 - 13,640 = 47,368.00
    # effective = (13,640 + 47,368) / 1,488 = 41.00 = K'
    _, r = settle(vppa_doc(basis={"mode": "adjusted_strike", "usd_per_mwh": "-1.50"}))
    (ln,) = r.lines
    assert ln.amount_cents == 4_736_800 and ln.rate == "31.833333"       # 47,368 / 1,488
    assert "strike $42.5/MWh + basis $-1.5 = $41/MWh" in ln.description
    assert ln.determinants == {"volume_mwh": "1488.000000", "capture_price_usd_per_mwh": "9.166667",
                               "effective_price_usd_per_mwh": "41.00"}
    assert set(r.detail.column("rate_microusd_per_mwh").to_pylist()) == {21_000_000, -4_000_000, 51_000_000}


def test_adjusted_strike_with_zero_floor_is_the_adjusted_settlement_of_the_notes():
    # zero_floor: C settles at max(-10, 0) = 0 -> 41 x 3 = 123 per hour
    # amount = 248 x (21 x 2 - 4 x 1 + 41 x 3) = 248 x 161 = 39,928.00
    # effective = (13,640 + 39,928) / 1,488 = 36.00: below K' because the buyer is
    # shielded from the -10.00 hours (the notes: PPA $40, hub -$2 -> buyer pays $38)
    _, r = settle(vppa_doc(negative_price_rule="zero_floor",
                           basis={"mode": "adjusted_strike", "usd_per_mwh": "-1.50"}))
    (ln,) = r.lines
    assert ln.amount_cents == 3_992_800
    assert ln.determinants["effective_price_usd_per_mwh"] == "36.00"


def test_node_price_as_hub_plus_basis_with_hedge_share_and_no_settlement_below_zero():
    # node = hub - 1.50: A 18.50, B 43.50, C -11.50 (not settled: < 0)
    # rates 0.75 x (42.50 - node): A 18.00, B -0.75, C 0
    # amount = 248 x (18.00 x 2 - 0.75 x 1) = 248 x 35.25 = 8,742.00; quantity = 248 x 3 = 744 MWh
    # node capture = (13,640 - 1.50 x 1,488) / 1,488 = 11,408 / 1,488 = 7.666... -> 7.666667
    # effective = (13,640 + 8,742) / 1,488 = 15.0416... -> 15.041667
    _, r = settle(vppa_doc(hedge_share="0.75", negative_price_rule="no_settlement_below_zero",
                           basis={"mode": "node_price", "usd_per_mwh": "-1.50"}))
    (ln,) = r.lines
    assert (ln.amount_cents, str(ln.quantity)) == (874_200, "744.000000")
    assert "ERCOT HB_NORTH RT + basis $-1.5 (node)" in ln.description
    assert ln.determinants == {"volume_mwh": "1488.000000", "capture_price_usd_per_mwh": "9.166667",
                               "node_capture_price_usd_per_mwh": "7.666667", "basis_usd_per_mwh": "-1.50",
                               "effective_price_usd_per_mwh": "15.041667"}


def test_node_price_series_settles_at_the_node_and_the_buyer_bears_the_basis():
    # node series: A 19.00, B 41.00, C -12.00 (basis -1, -4, -2 against the hub)
    # amount = 248 x (23.50 x 2 + 1.50 x 1 + 54.50 x 3) = 248 x 212 = 52,576.00
    # node capture = 248 x (38 + 41 - 36) / 1,488 = 10,664 / 1,488 = 7.1666... -> 7.166667
    # realised basis = (10,664 - 13,640) / 1,488 = -2.00; effective = K - basis = 44.50
    node = {"iso": "ERCOT", "node": "DC1_NODE", "market_run": "RT"}
    prices = {NODE: flat_prices(B0 - US_PER_HOUR, B1, 60, _by_group([19_000_000, 41_000_000, -12_000_000]))}
    cv, r = settle(vppa_doc(basis={"mode": "node_price", "node": node}), prices)
    (ln,) = r.lines
    assert ln.amount_cents == 5_257_600
    assert "ERCOT DC1_NODE RT (node)" in ln.description
    assert ln.determinants == {"volume_mwh": "1488.000000", "capture_price_usd_per_mwh": "9.166667",
                               "node_capture_price_usd_per_mwh": "7.166667", "basis_usd_per_mwh": "-2.00",
                               "effective_price_usd_per_mwh": "44.50"}
    from engine.terms import TERM_KINDS
    assert TERM_KINDS["vppa"].needs(cv.terms[0], cv, SITES["TX-DC1"]) == [("price", HUB), ("price", NODE)]


def test_determinants_add_up_over_sites_windows_and_the_partial_json_round_trip():
    cv = parse_contract(vppa_doc(basis={"mode": "node_price", "usd_per_mwh": "-1.50"}))
    market = MarketData({HUB: HUB_PRICES})
    whole = settle_period([cv], PERIOD, {"TX-DC1": (SITES["TX-DC1"], SERIES)}, market)
    cut = B0 + 301 * US_PER_HOUR
    parts = [settle_site([cv], PERIOD, SITES["TX-DC1"], SERIES, market, window=w) for w in ((B0, cut), (cut, B1))]
    parts = [partial_from_dict(partial_to_dict(p), p.detail) for p in parts]       # as the job stores them
    split = finalize([cv], PERIOD, combine(parts[::-1]))
    assert split.lines == whole.lines


def test_invoice_json_carries_exact_decimal_strings_and_the_same_total():
    doc = vppa_doc(basis={"mode": "adjusted_strike", "usd_per_mwh": "-1.50"})
    cv, r = settle(doc)
    inv = build_invoice(r, contract=cv, contract_sha256=contract_sha256(doc), version=1, status="draft",
                        lineage={})
    (line,) = inv["lines"]
    assert line["determinants"] == {"volume_mwh": "1488.000000", "capture_price_usd_per_mwh": "9.166667",
                                    "effective_price_usd_per_mwh": "41.00"}
    assert all(re.fullmatch(r"-?[0-9]+\.[0-9]{2,6}", v) for v in line["determinants"].values())   # decimal strings
    assert inv["total_usd"] == line["amount_usd"] == "47368.00"
    assert b'"determinants":{"capture_price_usd_per_mwh":"9.166667"' in invoice_bytes(inv)
    html = render_html(inv)
    assert "capture price: 9.166667 USD/MWh" in html and "volume: 1488.000000 MWh" in html
    # a line without determinants has no such key: other invoices keep their bytes
    energy = minimal_doc([{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "40"}])
    ecv, er = settle(energy)
    einv = build_invoice(er, contract=ecv, contract_sha256=contract_sha256(energy), version=1, status="draft",
                         lineage={})
    assert "determinants" not in einv["lines"][0]


def test_capture_price_is_the_volume_weighted_hub_price_exactly():
    # the figure is rounded for display only: recompute it from the detail
    _, r = settle(vppa_doc())
    d = r.detail.to_pydict()
    hub = dict(zip(HUB_PRICES.start_us.tolist(), HUB_PRICES.lmp_microusd_per_mwh.tolist()))
    starts = [int(t.timestamp() * 1e6) for t in d["interval_start_utc"]]
    value = sum(Fraction(hub[s] * q, 10**12) for s, q in zip(starts, d["quantity_wh"]))
    capture = value / Fraction(sum(d["quantity_wh"]), MWH)
    assert capture == Fraction(55, 6)
    assert r.lines[0].determinants["capture_price_usd_per_mwh"] == "9.166667"


@pytest.mark.parametrize("basis,field,message", [
    ({"mode": "adjusted_strike"}, "basis.usd_per_mwh", "required"),
    ({"mode": "adjusted_strike", "usd_per_mwh": "1", "node": {"iso": "E", "node": "N", "market_run": "RT"}},
     "basis.node", "only with mode: node_price"),
    ({"mode": "node_price"}, "basis.usd_per_mwh", "mode: node_price takes exactly one of"),
    ({"mode": "node_price", "usd_per_mwh": "0.0000001"}, "basis.usd_per_mwh", "at most 6 decimal places"),
    ({"mode": "hub"}, "basis.mode", "must be one of"),
    ({"usd_per_mwh": "1"}, "basis.mode", "required"),
    ({"mode": "adjusted_strike", "usd_per_mwh": -1.5}, "basis.usd_per_mwh", "expected string"),
])
def test_a_bad_basis_is_refused_naming_the_field(basis, field, message):
    with pytest.raises(ContractError) as ei:
        parse_contract(vppa_doc(basis=copy.deepcopy(basis)))
    assert f"terms[0].{field}: {message}" in str(ei.value)
