"""`m2c contracts show` prints what `m2c contracts add` takes back, and the price
schedule by contract year (real CLI entry point, real local store; no Ray)."""
from __future__ import annotations

import json

import pytest
import yaml

from api.cli.main import main
from engine.contract import canonical_contract_json, contract_sha256
from tests.engine.settlement_fixtures import CONTRACTS, SITES_DOC


@pytest.fixture
def home(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("M2C_HOME", str(home))
    monkeypatch.setenv("M2C_STORAGE", f"file://{home / 'store'}")
    for k in ("M2C_DB", "M2C_API_URL", "M2C_API_KEY", "RAY_ADDRESS"):
        monkeypatch.delenv(k, raising=False)
    sites = tmp_path / "sites.yaml"
    sites.write_text(yaml.safe_dump(SITES_DOC))
    assert main(["sites", "load", str(sites)]) == 0
    for name in ("ppa_tx_dc1_v1.yaml", "ppa_tx_dc1_v2.yaml"):
        assert main(["contracts", "add", str(CONTRACTS / name)]) == 0
    capsys.readouterr()
    return home


def run(capsys, argv: list[str], code: int = 0) -> str:
    assert main(argv) == code, capsys.readouterr().err
    return capsys.readouterr().out


def test_show_yaml_is_accepted_unchanged_by_add(home, tmp_path, capsys):
    out = run(capsys, ["contracts", "show", "PPA-TX-DC1", "--format", "yaml"])
    shown = yaml.safe_load(out)
    assert "version" not in shown and "_sha256" not in shown and list(shown)[:2] == ["contract_id", "effective_from"]
    stored = json.loads(run(capsys, ["contracts", "show", "PPA-TX-DC1", "--format", "json"]))["document"]
    assert canonical_contract_json({**shown, "version": 2}) == canonical_contract_json(stored)
    f = tmp_path / "shown.yaml"
    f.write_text(out)
    assert "PPA-TX-DC1 unchanged, already v2" in run(capsys, ["contracts", "add", str(f)])
    # edited (a price change from 2030), the same file is the next version
    edited = out.replace("effective_from: '2027-07-01'", "effective_from: '2030-01-01'").replace(
        "price_usd_per_mwh: '61.50'", "price_usd_per_mwh: '63.00'")
    assert edited != out
    f.write_text(edited)
    assert "PPA-TX-DC1 stored as v3 (effective 2030-01-01)" in run(capsys, ["contracts", "add", str(f)])
    # an older version prints as a document too, and says it is not the latest
    old = run(capsys, ["contracts", "show", "PPA-TX-DC1", "--version", "1"])
    assert "# contract PPA-TX-DC1 version 1 of 3, effective 2026-01-01" in old
    assert "(this version is not the latest)" in old
    assert yaml.safe_load(old)["terms"][0]["price_usd_per_mwh"] == "64.00"


def test_show_prints_provenance_and_the_price_schedule_as_comments(home, capsys):
    out = run(capsys, ["contracts", "show", "PPA-TX-DC1"])            # yaml is the default
    doc = json.loads(run(capsys, ["contracts", "show", "PPA-TX-DC1", "--format", "json"]))
    comments = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert comments[0] == "# contract PPA-TX-DC1 version 2 of 2, effective 2027-07-01"
    assert comments[1].startswith(f"# sha256 {doc['sha256']} ")
    table = [ln.removeprefix("#   ").split() for ln in comments if ln.startswith("#   ")]
    assert table[0] == ["YEAR", "FROM", "TO", "energy_fixed:on_peak", "energy_fixed:off_peak", "vppa", "strike",
                        "capacity", "min_delivery", "LD"]
    # v2's energy price 61.50 escalating 2 %/yr, TOU 1.10/0.90, from 2027-07-01 (contract year 2):
    # 61.50 x 1.02 x 1.10 = 69.003; 61.50 x 1.02 x 0.90 = 56.457
    assert table[2] == ["2", "2027-07-01", "2027-12-31", "69.003000", "56.457000", "42.50", "9.25", "12.00"]
    assert table[-1][:3] == ["20", "2045-01-01", "2045-12-31"]


def test_show_json_carries_the_document_its_hash_and_the_schedule(home, capsys):
    doc = json.loads(run(capsys, ["contracts", "show", "PPA-TX-DC1", "--format", "json"]))
    assert (doc["contract_id"], doc["version"], doc["versions"], doc["effective_from"]) == (
        "PPA-TX-DC1", 2, [1, 2], "2027-07-01")
    assert doc["sha256"] == contract_sha256(doc["document"]) and doc["document"]["version"] == 2
    sched = doc["price_schedule"]
    assert sched["columns"][0] == {"name": "energy_fixed:on_peak", "unit": "USD/MWh"}
    assert {"name": "capacity", "unit": "USD/kW-month"} in sched["columns"]
    y2 = sched["years"][0]
    assert y2 == {"contract_year": 2, "from": "2027-07-01", "to": "2027-12-31",
                  "rates": {"energy_fixed:on_peak": "69.003", "energy_fixed:off_peak": "56.457",
                            "vppa strike": "42.50", "capacity": "9.25", "min_delivery LD": "12.00"}}
    v1 = json.loads(run(capsys, ["contracts", "show", "PPA-TX-DC1", "--version", "1", "--format", "json"]))
    # v1: 64.00 x 1.10 = 70.40 in year 1; 64 x 1.02^19 x 0.90 = 83.9123235376... in year 20
    assert v1["price_schedule"]["years"][0]["rates"]["energy_fixed:on_peak"] == "70.40"
    assert v1["price_schedule"]["years"][-1]["rates"]["energy_fixed:off_peak"] == "83.912324"
    assert run(capsys, ["contracts", "show", "PPA-TX-DC1", "--version", "9"], code=1) == ""
