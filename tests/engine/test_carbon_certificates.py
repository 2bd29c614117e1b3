"""Granular certificate issuance (face value rounded down to a whole Wh) and the EnergyTag v2 shape."""
from __future__ import annotations

import pytest

from engine.carbon.certificates import certificate_id, energytag_bundle, issue_hourly
from engine.timebase import US_PER_HOUR

H = 1_790_000_000 * 1_000_000 // US_PER_HOUR * US_PER_HOUR


def test_a_1_2345678_mwh_hour_issues_1234567_wh_and_carries_the_rest():
    # 1.2345678 MWh = 1,234,567.8 Wh = 1,234,567,800,000 uWh
    out, carry = issue_hourly([H], [1_234_567_800_000])
    assert out == [(H, 1_234_567)] and carry == 800_000            # 0.8 Wh carried
    # the carried 0.8 Wh joins the next hour: 0.3 Wh + 0.8 Wh issues 1 Wh, carries 0.1
    out, carry = issue_hourly([H, H + US_PER_HOUR], [1_234_567_800_000, 300_000])
    assert out == [(H, 1_234_567), (H + US_PER_HOUR, 1)] and carry == 100_000
    # ... and from one issuance to the next
    out, carry = issue_hourly([H], [200_000], carry_uwh=800_000)
    assert out == [(H, 1)] and carry == 0
    # nothing is created or lost: issued Wh + carry = production + carry in
    prod = [999_999, 1_000_001, 2_500_000, 0, 499_999]
    out, carry = issue_hourly([H + i * US_PER_HOUR for i in range(5)], prod, carry_uwh=1)
    assert sum(w for _, w in out) * 10**6 + carry == sum(prod) + 1


def test_no_certificate_for_an_hour_below_one_wh():
    out, carry = issue_hourly([H], [999_999])
    assert out == [] and carry == 999_999
    with pytest.raises(ValueError):
        issue_hourly([H], [1], carry_uwh=10**6)


def test_energytag_v2_bundle_shape():
    cert = {"certificate_id": certificate_id("TX-DC1", "pv1", H), "site_id": "TX-DC1", "channel": "pv1",
            "energy_source": "solar", "balancing_authority": "ERCO", "hour_utc": "2026-09-21T13:00:00Z",
            "face_wh": 1_234_567, "nameplate_w": 80_000_000}
    b = energytag_bundle(cert, state="cancelled", account="BUYER", beneficiary="VA-DC1", range_start=11)
    assert b["certificate_bundle_status"] == "Cancelled" and b["face_value"] == 1
    assert b["bundle_quantity"] == 1_234_567
    assert b["certificate_bundle_id_range_end"] - b["certificate_bundle_id_range_start"] + 1 == b["bundle_quantity"]
    assert b["issuance_id"] == "TX-DC1/pv1-2026-09-21T13:00:00Z"
    assert b["production_ending_interval"] == "2026-09-21T14:00:00Z"
    assert b["energy_carrier"] == "Electricity" and b["is_storage"] is False
    assert len(b["hash"]) == 64
    again = energytag_bundle(cert, state="issued", account="TX-DC1", beneficiary=None, range_start=11)
    assert again["hash"] == b["hash"] and again["certificate_bundle_status"] == "Active"
