"""``/v1/market``: the dispute report of a stored statement, the statement list, and the
role policy (analysts and admins); submitting a shadow_settlement job is analyst/admin."""
from __future__ import annotations

from datetime import date

import yaml

from engine.sites import parse_sites
from jobs.market import shadow_in_process
from storage.ingest import ingest_awards, ingest_meter, ingest_prices, ingest_statements
from storage.objectstore import ObjectStore
from storage.sites import save_sites
from tests.support.api_app import auth
from tests.support.market import NOW, SITES_YAML, statement_csv_from, write_ercot_files

D = date(2026, 1, 15)


def test_reconcile_route_and_roles(client, api_settings, keys, tmp_path):
    store = ObjectStore.from_config(api_settings.storage_config())
    sites = parse_sites(yaml.safe_load(SITES_YAML))
    save_sites(store, sites)
    files = write_ercot_files(tmp_path, D, 1)
    ingest_meter(store, [files["meter"]], "csv", sites=sites, now_utc=NOW)
    ingest_prices(store, [files["prices"]], now_utc=NOW)
    ingest_awards(store, [files["awards"]], sites=sites, now_utc=NOW)
    lines, _ = shadow_in_process(store, "ERCOT", "TXDC1_CC1", D, D)
    rows = statement_csv_from(lines, "S-1").splitlines()
    cells = rows[5].split(",")
    cells[-1] = "999.99"
    rows[5] = ",".join(cells)
    f = tmp_path / "st.csv"
    f.write_text("\n".join(rows) + "\n")
    ingest_statements(store, [f], sites=sites, now_utc=NOW)

    r = client.get("/v1/market/statements/S-1/reconcile", headers=auth(keys["analyst"]))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["mismatches"] == 1 and doc["lines"][0]["statement_usd"] == "999.99"
    r = client.get("/v1/market/statements/S-1/reconcile?format=csv", headers=auth(keys["admin"]))
    assert r.status_code == 200 and r.text.count("\n") == 2
    r = client.get("/v1/market/statements/S-1/reconcile?format=html", headers=auth(keys["analyst"]))
    assert r.status_code == 200 and r.text.startswith("<!DOCTYPE html>")
    assert client.get("/v1/market/statements", headers=auth(keys["analyst"])).json()[0][
        "statement_id"] == "S-1"
    for role in ("scheduler", "investor"):
        assert client.get("/v1/market/statements/S-1/reconcile",
                          headers=auth(keys[role])).status_code == 403
    r = client.get("/v1/market/statements/NOPE/reconcile", headers=auth(keys["analyst"]))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/v1/market/statements/S-1/reconcile?version=final", headers=auth(keys["analyst"]))
    assert r.status_code == 400 and "no version 'final'" in r.json()["detail"]
    r = client.get("/v1/market/shadow/nope", headers=auth(keys["analyst"]))
    assert r.status_code == 404
    for url in ("/v1/market/statements/S-1/reconcile?tolerance=1", "/v1/market/rules?iso=PJM&x=1",
                "/v1/market/chain/TX-DC1/2026-01?interval=true"):
        r = client.get(url, headers=auth(keys["analyst"]))
        assert r.status_code == 422, url                   # an unknown parameter is an error


def test_rules_and_synchronous_shadow_routes(client, api_settings, keys, tmp_path):
    store = ObjectStore.from_config(api_settings.storage_config())
    sites = parse_sites(yaml.safe_load(SITES_YAML))
    save_sites(store, sites)
    files = write_ercot_files(tmp_path, D, 1)
    ingest_meter(store, [files["meter"]], "csv", sites=sites, now_utc=NOW)
    ingest_prices(store, [files["prices"]], now_utc=NOW)
    ingest_awards(store, [files["awards"]], sites=sites, now_utc=NOW)
    r = client.get("/v1/market/rules?iso=CAISO", headers=auth(keys["investor"]))
    assert r.status_code == 200 and {x["module"] for x in r.json()} >= {"caiso.cc6475"}
    assert client.get("/v1/market/rules?iso=NYISO", headers=auth(keys["admin"])).status_code == 422
    q = "iso=ERCOT&resource=TXDC1_CC1&from=2026-01-15&to=2026-01-15"
    r = client.get(f"/v1/market/shadow?{q}", headers=auth(keys["analyst"]))
    assert r.status_code == 200, r.text
    lines, _ = shadow_in_process(store, "ERCOT", "TXDC1_CC1", D, D)
    assert r.json()["lines"] == lines.num_rows and set(r.json()["totals_usd"]) == {"DAESAMT", "RTEIAMT"}
    r = client.get(f"/v1/market/shadow?{q}&lines=true&format=csv", headers=auth(keys["admin"]))
    assert r.status_code == 200 and r.text.count("\n") == lines.num_rows + 1
    assert client.get(f"/v1/market/shadow?{q}", headers=auth(keys["investor"])).status_code == 403
    r = client.get("/v1/market/shadow?iso=ERCOT&resource=TXDC1_CC1&from=2026-01-01&to=2026-06-01",
                   headers=auth(keys["analyst"]))
    assert r.status_code == 400 and "at most 93" in r.json()["detail"]
    r = client.get("/v1/market/shadow?iso=ERCOT&resource=TXDC1_CC1&from=2026-02-15&to=2026-02-15",
                   headers=auth(keys["analyst"]))
    assert r.status_code == 409 and "missing" in r.json()["detail"]


def test_shadow_settlement_jobs_are_for_analysts_and_admins(client, keys):
    spec = {"kind": "shadow_settlement", "iso": "ERCOT", "from_date": "2026-01-15",
            "to_date": "2026-01-15"}
    assert client.post("/v1/jobs", json=spec, headers=auth(keys["analyst"])).status_code == 202
    assert client.post("/v1/jobs", json=spec, headers=auth(keys["scheduler"])).status_code == 403
    bad = {**spec, "to_date": "2026-01-14"}
    assert client.post("/v1/jobs", json=bad, headers=auth(keys["admin"])).status_code == 422
