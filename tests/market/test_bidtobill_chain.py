"""Bid to bill over a stored portfolio: one ERCOT site-month (a resource with day-ahead
awards, 15-minute metering, SCED prices) under two PPAs with an export share, one at
the site node's real-time price (the identity holds exactly), one at its day-ahead price
(the difference is reported); statements that agree, then a final version at another
price run; the invoice published; through ``m2c market chain`` and its API route."""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
import yaml

from api.cli.main import main
from engine.sites import parse_sites
from jobs.bidtobill import chain_in_process
from jobs.contract_period import settle_contract_period
from jobs.invoicing import publish_invoice
from jobs.market import shadow_in_process
from jobs.settle_inputs import DataVersions
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_awards, ingest_meter, ingest_prices, ingest_statements
from storage.objectstore import ObjectStore
from storage.sites import save_sites
from storage.tables import Tables
from tests.support.market import (CHAIN_RESOURCE, CHAIN_SITE, CHAIN_SITES_YAML, NOW, chain_contract,
                                  statement_csv_from, write_chain_files)

PERIOD = "2026-02"
FIRST, LAST = date(2026, 2, 1), date(2026, 2, 28)
SID = "ERCOT-RTM-QBB-202602"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The chain portfolio, stored: registry, a month of data, two contracts."""
    root = tmp_path_factory.mktemp("chain")
    config = StorageConfig(uri=f"file://{root / 'store'}")
    store = ObjectStore.from_config(config)
    sites = parse_sites(yaml.safe_load(CHAIN_SITES_YAML))
    save_sites(store, sites)
    files = write_chain_files(root, FIRST, 28)
    ingest_meter(store, [files["meter"]], "csv", sites=sites, now_utc=NOW)
    ingest_prices(store, [files["prices"]], now_utc=NOW)
    ingest_awards(store, [files["awards"]], sites=sites, now_utc=NOW)
    contracts = ContractStore(store)
    contracts.add(chain_contract("PPA-BB-RT"), sites=sites)
    contracts.add(chain_contract("PPA-BB-DA", market_run="DA"), sites=sites)
    return root, config, store, sites


def by_contract(doc):
    return {p["contract_id"]: p for p in doc["invoice"]}


def usd(s: str) -> Fraction:
    return Fraction(Decimal(s))


def test_the_chain_reconciles_exactly_at_the_same_series_and_reports_the_da_difference(home):
    _, _, store, _ = home
    doc = chain_in_process(store, CHAIN_SITE, PERIOD)
    [res] = doc["resources"]
    assert res["resource_id"] == CHAIN_RESOURCE and res["intervals"] == 28 * 96
    shadow = res["settlement"]["shadow"]
    assert shadow["identity"]["exact"] == 28 * 96 and shadow["identity"]["difference_usd"] == "0.000000"
    dec = res["settlement"]["decomposition_usd"]
    assert usd(dec["physical_at_rt"]) + usd(dec["position_spread"]) == usd(shadow["energy_exact_usd"])
    assert res["settlement"]["statement"] is None

    rt, da = by_contract(doc)["PPA-BB-RT"], by_contract(doc)["PPA-BB-DA"]
    for p in (rt, da):
        iso = p["iso"]
        assert p["source"] == "computed (not invoiced)" and p["line_is_site_amount"] is True
        assert iso["exported_mwh"] == p["billed_mwh"] == res["metered"]["inject_mwh"]
        # site amount = share of the ISO revenue + energy + price difference + rate rounding
        parts = (usd(iso["share_of_iso_revenue_usd"]) + usd(iso["energy_difference_usd"])
                 + usd(iso["price_difference_usd"]) + usd(p["rate_rounding_usd"]))
        assert abs(parts - usd(p["site_amount_usd"])) <= Fraction(3, 10**6)
        assert iso["energy_difference_usd"] == "0.000000"
    assert rt["iso"]["same_series"] and rt["iso"]["reconciles"] == "exact"
    assert rt["iso"]["price_difference_usd"] == "0.000000"
    assert abs(usd(rt["rate_rounding_usd"])) < Fraction(1, 100)
    assert da["iso"]["reconciles"] == "documented difference"
    assert da["iso"]["reasons"] == ["the contract prices at the DA run; the ISO settles the metered "
                                    "energy at RT"]
    assert usd(da["iso"]["price_difference_usd"]) != 0
    assert doc["summary"]["pass_through_reconciles"] == [
        {"contract_id": "PPA-BB-DA", "line_id": "export", "reconciles": "documented difference"},
        {"contract_id": "PPA-BB-RT", "line_id": "export", "reconciles": "exact"}]
    assert doc["data_versions"]["awards"] == 0


def _reprice(text: str, every: int, usd_more: str) -> tuple[str, int]:
    """The statement CSV as a ``final`` version whose RTEIAMT lines are priced
    ``usd_more`` higher every ``every``-th line (another price run)."""
    rows = [r.split(",") for r in text.splitlines()]
    k = changed = 0
    for r in rows[1:]:
        r[2] = "final"
        if r[4] == "RTEIAMT":
            if k % every == 0 and r[8] and Decimal(r[8]) != 0:
                price = Decimal(r[9]) + Decimal(usd_more)
                r[9] = str(price)
                r[10] = str((-Decimal(r[8]) * price).quantize(Decimal("0.01")))
                changed += 1
            k += 1
    return "\n".join(",".join(r) for r in rows) + "\n", changed


def test_statements_agree_then_a_final_version_at_another_price_run_differs(home):
    root, _, store, sites = home
    lines, _ = shadow_in_process(store, "ERCOT", CHAIN_RESOURCE, FIRST, LAST)
    text = statement_csv_from(lines, SID)
    initial = root / "statement_initial.csv"
    initial.write_text(text)
    ingest_statements(store, [initial], sites=sites, now_utc=NOW)
    doc = chain_in_process(store, CHAIN_SITE, PERIOD)
    st = doc["resources"][0]["settlement"]["statement"]
    assert st["statements"] == [{"statement_id": SID, "version": "initial"}]
    assert st["identity"]["differ"] == 0 and st["identity"]["agree"] == 28 * 96
    assert st["energy_usd"] == doc["resources"][0]["settlement"]["shadow"]["energy_usd"]

    final_text, changed = _reprice(text, 97, "3.00")
    final = root / "statement_final.csv"
    final.write_text(final_text)
    ingest_statements(store, [final], sites=sites, now_utc=NOW)
    doc = chain_in_process(store, CHAIN_SITE, PERIOD)
    st = doc["resources"][0]["settlement"]["statement"]
    assert st["statements"] == [{"statement_id": SID, "version": "final"}]
    assert st["identity"]["differ"] == changed > 0
    assert doc["summary"]["statement_intervals_differing"] == changed
    assert all(Fraction(Decimal(d["statement_rt_price_usd_per_mwh"]))
               - Fraction(Decimal(d["rt_price_usd_per_mwh"])) == 3 for d in st["differences"])
    # energy = physical + spread + within rounding + the differences (exact; shown to 1e-6)
    ident = st["identity"]
    dec = doc["resources"][0]["settlement"]["decomposition_usd"]
    assert abs(usd(dec["energy"]) + usd(ident["within_rounding_usd"]) + usd(ident["difference_usd"])
               - usd(ident["energy_usd"])) <= Fraction(3, 10**6)


def test_a_published_invoice_is_the_invoice_of_record(home):
    _, _, store, _ = home
    tables = Tables(store)
    stored = ContractStore(store).versions("PPA-BB-RT")
    data = DataVersions.resolve(tables, store)
    result = settle_contract_period(store, tables, stored, PERIOD, data, cache={})
    version, _ = publish_invoice(store, result, stored, run_id="chain-test", data=data)
    doc = chain_in_process(store, CHAIN_SITE, PERIOD)
    rt = by_contract(doc)["PPA-BB-RT"]
    assert rt["source"] == f"published v{version}" and rt["line_is_site_amount"] is True
    [line] = [ln for ln in result.lines if ln.line_id == "export"]
    assert rt["line_usd"] == f"{Decimal(line.amount_cents) / 100:.2f}"
    assert rt["iso"]["reconciles"] == "exact"
    assert doc["data_versions"]["meter"] == data.meter and doc["data_versions"]["prices"] == data.prices


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(home, monkeypatch):
    root, config, _, _ = home
    monkeypatch.setenv("M2C_HOME", str(root / "home"))
    monkeypatch.setenv("M2C_STORAGE", config.uri)
    for var in ("M2C_DB", "RAY_ADDRESS", "M2C_API_URL", "M2C_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_m2c_market_chain_formats(cli, capsys):
    code, out, err = run(capsys, "market", "chain", "--site", CHAIN_SITE, "--period", PERIOD)
    assert code == 0, err
    assert "awards -> metered -> ISO settlement" in out and "documented difference" in out
    assert "PPA-BB-DA export: the contract prices at the DA run" in out
    code, out, _ = run(capsys, "market", "chain", "--site", CHAIN_SITE, "--period", PERIOD,
                       "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["pass_through_reconciles"][1]["reconciles"] == "exact"
    code, out, _ = run(capsys, "market", "chain", "--site", CHAIN_SITE, "--period", PERIOD,
                       "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 28 * 96
    assert {"interval_start_utc", "metered_mwh", "expected_usd", "shadow_usd"} <= set(rows[0])
    code, out, _ = run(capsys, "market", "chain", "--site", CHAIN_SITE, "--period", PERIOD,
                       "--format", "html")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and "PPA invoice lines" in out
    code, _, err = run(capsys, "market", "chain", "--site", "NOPE", "--period", PERIOD)
    assert code == 2 and "unknown site 'NOPE'" in err
    code, _, err = run(capsys, "market", "chain", "--site", CHAIN_SITE, "--period", "2026-13")
    assert code == 2 and "period" in err


def test_a_site_without_iso_resources_shows_its_invoice_and_says_so(tmp_path):
    import datetime as dt

    import numpy as np

    from tests.jobs.rebill_fixtures import CONTRACT_V1, SITE, SITES_DOC, RebillStore
    from tests.support.meter_data import meter_csv_lines
    config = StorageConfig(uri=f"file://{tmp_path / 'store'}")
    store = ObjectStore.from_config(config)
    sites = parse_sites(SITES_DOC)
    save_sites(store, sites)
    rs = RebillStore(config, store, Tables(store), sites, tmp_path)
    start = dt.datetime(2026, 1, 1, 6, tzinfo=dt.timezone.utc)
    rows = [r for ch, wh in (("pv1", 1000), ("dc", 500), ("exp", 500))
            for r in meter_csv_lines(SITE, ch, start, np.full(31 * 24, wh))]
    rs.ingest_meter_csv("m.csv", rows, NOW)
    rs.ingest_prices_csv("p.csv", [f"ERCOT,RB1_NODE,RT,{(start + dt.timedelta(hours=i)):%Y-%m-%dT%H:%M:%SZ},"
                                   f"60,{20 + i % 7}.50" for i in range(31 * 24)], NOW)
    rs.add_contract(CONTRACT_V1)
    doc = chain_in_process(store, SITE, "2026-01")
    assert doc["resources"] == [] and "declares no ISO resource" in doc["note"]
    [line] = doc["invoice"]
    assert line["kind"] == "export_share" and line["iso"] is None
    # 500 Wh x 744 h at a mean price: the buyer's half credited, nothing to set it against
    assert line["line_is_site_amount"] is True and usd(line["site_amount_usd"]) < 0
    assert doc["summary"]["pass_through_reconciles"][0]["reconciles"] == "no ISO resource"
