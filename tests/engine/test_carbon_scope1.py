"""Scope 1 from the published factors (40 CFR 98 Tables C-1, C-2; Table A-1 GWPs), exactly."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from engine.carbon.classify import site_config
from engine.carbon.factors import factor_set
from engine.carbon.hourly import HourGrid
from engine.carbon.scope1 import channel_fuel
from engine.carbon.statement import annex, site_month_carbon
from engine.carbon.units import MASS_UNITS_PER_KG, heat_rate_milli, mass_str, wh_thermal_to_millibtu
from engine.delivered import ChannelSeries
from engine.errors import ValidationError
from engine.sites import parse_sites
from engine.timebase import US_PER_HOUR, US_PER_MINUTE

T0 = 1_790_000_000 * 1_000_000 // US_PER_HOUR * US_PER_HOUR      # an hour in 2026, UTC


def _site(channels: dict, **extra) -> dict:
    return {"sites": [{"site_id": "S1", "timezone": "UTC", "balancing_authority": "ERCO",
                       "channels": {"dc": {"kind": "load"}, "imp": {"kind": "grid_import"}, **channels},
                       **extra}]}


def _series(values_wh, minutes=60, quality="A", start=T0):
    n = len(values_wh)
    grid = start + np.arange(n, dtype=np.int64) * minutes * US_PER_MINUTE
    q = np.array(list(quality * n) if len(quality) == 1 else list(quality))
    return ChannelSeries(grid, np.asarray(values_wh, dtype=np.int64), q, np.array([""] * n), minutes)


def test_the_factor_document_cites_every_row_and_names_the_regulatory_gwp():
    fs = factor_set()
    doc = fs.document
    assert fs.ref == "us-epa-40cfr98@2024.1" and len(fs.sha256) == 64
    assert all(r["source"].startswith("40 CFR 98 Subpart C, Table C-") for r in doc["factors"])
    ng = fs.fuels["natural_gas"]
    # 53.06, 1.0e-3, 1.0e-4 kg/MMBtu in 1e-13 kg per millibtu (x 1e13 / 1e9)
    assert (ng.co2, ng.ch4, ng.n2o) == (530_600, 10, 1)
    assert fs.default_gwp == "AR5" and "89 FR 31802" in doc["default_gwp_note"]
    assert (fs.gwp("AR5").ch4, fs.gwp("AR5").n2o) == (28, 265)
    assert (fs.gwp("AR4").ch4, fs.gwp("AR4").n2o) == (25, 298)
    with pytest.raises(ValidationError, match="unknown GWP set"):
        fs.gwp("AR6")


def test_heat_rate_9_gives_477_54_kg_co2_per_mwh_and_co2e_by_gwp_set():
    sites = parse_sites(_site({"gt1": {"kind": "generation", "resource": "gas_cc",
                                       "heat_rate_mmbtu_per_mwh": 9.0}}))
    cfg = site_config(sites["S1"])
    series = {"gt1": _series([1_000_000]), "dc": _series([1_000_000]), "imp": _series([0])}
    fs = factor_set()
    for gwp, co2e in (("AR5", "478.031"), ("AR4", "478.033")):
        p = site_month_carbon(cfg, "2026-09", T0, T0 + US_PER_HOUR, series, grid=None, fs=fs,
                              gwp=fs.gwp(gwp)).partial
        assert p.fuel_millibtu == {"natural_gas": 9 * 10**9}          # 9 MMBtu
        assert mass_str(p.scope1_100pg["CO2"], "kg") == "477.540"     # 9.0 x 53.06
        assert p.scope1_100pg["CO2"] == 477_540 * MASS_UNITS_PER_KG // 1000
        # 9 x (53.06 + 0.001 x GWP_CH4 + 0.0001 x GWP_N2O): AR5 478.0305 -> 478.031 (half away)
        assert mass_str(p.scope1_co2e(fs.gwp(gwp)), "kg") == co2e
        st = annex(p, fs, fs.gwp(gwp))
        assert st["scope1_t"]["co2"] == "0.477540" and st["energy_mwh"]["generation"] == {"gas_cc": "1.000000"}


def test_a_heat_rate_is_exact_to_1_btu_per_kwh_and_refused_finer():
    assert heat_rate_milli(6.8, where="x") == 6800
    assert heat_rate_milli("7.123", where="x") == 7123
    with pytest.raises(ValidationError, match="more than 3 decimals"):
        heat_rate_milli("7.1234", where="gt1")
    with pytest.raises(ValidationError, match="> 0"):
        heat_rate_milli(-1, where="gt1")


@pytest.mark.parametrize("channel, field", [
    ({"kind": "generation", "resource": "gas_cc"}, "sites[0].channels.gt1.heat_rate_mmbtu_per_mwh"),
    ({"kind": "generation", "resource": "mystery"}, "sites[0].channels.gt1.resource"),
    ({"kind": "generation", "resource": "gas_cc", "fuel_channel": "nope"}, "sites[0].channels.gt1.fuel_channel"),
    ({"kind": "generation", "fuel": "coal_dust", "heat_rate_mmbtu_per_mwh": 9}, "sites[0].channels.gt1.fuel"),
])
def test_a_traced_site_refuses_a_channel_it_cannot_trace_naming_site_and_channel(channel, field):
    with pytest.raises(ValidationError) as err:
        parse_sites(_site({"gt1": channel}), source="sites.yaml")
    assert err.value.file == "sites.yaml" and err.value.field == field
    assert "gt1" in str(err.value)


def test_an_untraced_site_is_not_checked():
    doc = _site({"gt1": {"kind": "generation", "resource": "gas_cc"}})
    del doc["sites"][0]["balancing_authority"]
    assert parse_sites(doc)["S1"].balancing_authority is None


def test_unknown_balancing_authority_is_refused():
    with pytest.raises(ValidationError, match="unknown balancing authority 'XYZ'"):
        parse_sites(_site({}, balancing_authority="XYZ"))


def test_metered_fuel_wins_when_complete_and_heat_rate_fills_an_incomplete_hour():
    sites = parse_sites(_site({
        "gt1": {"kind": "generation", "resource": "gas_cc", "heat_rate_mmbtu_per_mwh": "9",
                "fuel_channel": "gt1_fuel"},
        "gt1_fuel": {"kind": "fuel"}}))
    ch = site_config(sites["S1"]).combustion[0]
    hours = HourGrid.of(T0, T0 + 2 * US_PER_HOUR)
    gen = _series([250_000] * 8, minutes=15)                     # 1 MWh per hour
    fuel = _series([700_000] * 8, minutes=15, quality="AAAAAAAN")  # 2.8 MWh thermal per hour; one missing
    f = channel_fuel(ch, hours, {"gt1": gen, "gt1_fuel": fuel}, "S1")
    assert f.fuel_millibtu.tolist() == [wh_thermal_to_millibtu(2_800_000), 9 * 10**9]
    assert (f.metered_hours, f.incomplete_hours) == (1, 0)
    # 2.8 MWh thermal = 2,800,000 x 3600 / 1055.05585262 BTU, rounded once to the millibtu
    assert f.fuel_millibtu[0] == round(Fraction(2_800_000 * 3600 * 1000 * 10**8, 105505585262))


def test_a_heat_rate_curve_is_a_step_function_of_load():
    sites = parse_sites(_site({"gt1": {
        "kind": "generation", "resource": "gas_cc", "nameplate_kw": 1000,
        "heat_rate_curve": [{"min_load_pct": 0, "heat_rate_mmbtu_per_mwh": "10"},
                            {"min_load_pct": "50", "heat_rate_mmbtu_per_mwh": "8"},
                            {"min_load_pct": 90, "heat_rate_mmbtu_per_mwh": "7.5"}]}}))
    ch = site_config(sites["S1"]).combustion[0]
    hours = HourGrid.of(T0, T0 + 4 * US_PER_HOUR)
    # 1 MW nameplate, hourly: 499,999 Wh is 49.9999 %; 500,000 is 50 %; 900,000 is 90 %
    f = channel_fuel(ch, hours, {"gt1": _series([499_999, 500_000, 899_999, 900_000])}, "S1")
    assert f.fuel_millibtu.tolist() == [499_999 * 10_000, 500_000 * 8_000, 899_999 * 8_000, 900_000 * 7_500]
    with pytest.raises(ValidationError, match="first point"):
        parse_sites(_site({"gt1": {"kind": "generation", "resource": "gas_cc", "nameplate_kw": 1,
                                   "heat_rate_curve": [{"min_load_pct": 10, "heat_rate_mmbtu_per_mwh": 9}]}}))
