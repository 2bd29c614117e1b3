"""`m2c --api URL` is honoured by every command, or refused (issue 12, point 3).

The server (a real uvicorn in a thread) serves a store in one folder; the CLI runs with
``M2C_HOME`` in another, empty one. Each command's output is checked against the
server's store, which the CLI could not have read; a command that silently used the
local store would print "no invoices", an unknown site, or a not-found error.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

from api.cli.main import build_parser
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from storage.sites import registry_versions
from storage.tables import Tables

from .conftest import CONTRACT, PERIOD, loads, run_cli

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

#: every command exercised through the API below
REMOTE_COMMANDS = {
    "sites load", "sites list", "ingest meter", "ingest prices", "ingest index", "vee",
    "contracts add", "contracts list", "contracts show", "contracts schema", "settle", "rebill",
    "jobs list", "jobs show", "jobs wait", "jobs cancel", "jobs meter-totals",
    "invoices list", "invoices show", "invoices approve", "invoices explain",
    "keys create", "keys list", "keys revoke",
    "webhooks add", "webhooks list", "webhooks remove", "webhooks deliveries",
    "ingest awards", "ingest statements", "market shadow", "market statements",
    "market rules", "market reconcile", "market chain",     # tests/market/test_market_remote.py
    "bankability schema", "bankability run", "bankability show",
    "scenarios schema", "scenarios run", "scenarios list", "scenarios show",    # test_scenarios_remote.py
    # carbon: tests/remote/test_esg_remote.py
    "ingest grid-factors", "esg report", "esg factors", "esg certificates list", "esg certificates export",
}
#: commands that run where they are, and say so under --api (argv after the command)
LOCAL_ONLY = {
    "demo": [], "serve": [], "cluster start": [], "cluster stop": [], "cluster status": [],
    "invoices reproduce": [CONTRACT, PERIOD], "invoices reindex": [], "webhooks deliver": [],
    "tables list": [], "tables optimize": [], "tables vacuum": ["--retain", "30d"],
    "esg certificates issue": ["--site", "TX-DC1", "--period", PERIOD],
    "esg certificates transfer": ["--from", "A", "--to", "B", "X"],
    "esg certificates cancel": ["--account", "A", "--beneficiary", "B", "X"],
}


def _store(home) -> ObjectStore:
    return ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}"))


def _leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, object]:
    """``{"invoices approve": handler, ...}`` for every runnable command of the parser."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(_leaf_commands(sub, f"{prefix} {name}".strip()))
    if not out and prefix:
        out[prefix] = parser.get_default("handler")
    return out


def test_every_command_goes_through_the_api_or_is_refused_as_local_only(remote, capsys):
    leaves = _leaf_commands(build_parser())
    local = {name for name, handler in leaves.items() if getattr(handler, "local_only", None)}
    assert local == set(LOCAL_ONLY)
    assert set(leaves) == REMOTE_COMMANDS | local, "a command neither remote-tested nor local-only"
    api = remote("admin")
    for command, rest in LOCAL_ONLY.items():
        code, out, err = run_cli([*api, *command.split(), *rest], capsys)
        assert code == 2, (command, err)
        assert "local-only" in err and "Traceback" not in err, err


def test_invoices_list_show_explain(server, remote, cli_home, tmp_path, capsys):
    api = remote("analyst")
    code, out, err = run_cli([*api, "invoices", "list", "--format", "json"], capsys)
    assert code == 0, err
    [inv] = [i for i in loads(out) if i["contract_id"] == CONTRACT and i["period"] == PERIOD]
    server_doc, _ = InvoiceStore(_store(server.settings.home)).get(CONTRACT, PERIOD)
    assert inv["total_usd"] == server_doc["total_usd"] and inv["version"] == server_doc["version"]

    code, out, _ = run_cli([*api, "invoices", "list", "--contract", "NOPE"], capsys)
    assert code == 0 and out.strip() == "no invoices"

    code, out, _ = run_cli([*api, "invoices", "show", CONTRACT, PERIOD, "--format", "json"], capsys)
    assert code == 0 and loads(out)["lineage"] == server_doc["lineage"]

    code, out, err = run_cli([*api, "invoices", "explain", CONTRACT, PERIOD, "energy:on_peak"],
                             capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {r["line_id"] for r in rows} == {"energy:on_peak"}
    target = tmp_path / "on_peak.parquet"
    code, _, err = run_cli([*api, "invoices", "explain", CONTRACT, PERIOD, "energy:on_peak",
                            "--out", str(target)], capsys)
    assert code == 0 and f"{len(rows)} interval rows" in err
    assert pq.read_table(target).num_rows == len(rows)

    # the investor sees invoices, not interval detail
    code, _, err = run_cli([*remote("investor"), "invoices", "explain", CONTRACT, PERIOD,
                            "energy:on_peak"], capsys)
    assert code == 1 and "403" in err and "interval-level" in err
    assert not (cli_home / "store").exists()          # nothing was read or written locally


def test_approve_goes_to_the_server_records_the_key_and_is_idempotent(server, remote, capsys):
    invoices = InvoiceStore(_store(server.settings.home))
    version = invoices.versions(CONTRACT, PERIOD)[-1]

    code, _, err = run_cli([*remote("investor"), "invoices", "approve", CONTRACT, PERIOD], capsys)
    assert code == 1 and "403" in err and "may not approve" in err
    assert invoices.approval(CONTRACT, PERIOD, version) is None

    code, out, err = run_cli([*remote("analyst"), "invoices", "approve", CONTRACT, PERIOD,
                              "--format", "json"], capsys)
    assert code == 0, err
    approval = invoices.approval(CONTRACT, PERIOD, version)
    assert approval["approved_by"] == {"key_id": server.key_ids["analyst"], "label": "test analyst",
                                       "role": "analyst", "source": "cli"}
    assert loads(out)["status"] == "approved" and loads(out)["approval"] == approval

    code, out, err = run_cli([*remote("admin"), "invoices", "approve", CONTRACT, PERIOD], capsys)
    assert code == 1 and "already approved" in err and "key " + server.key_ids["analyst"] in err
    # the endpoint itself is idempotent: a retried request gets the original approval
    import httpx
    again = httpx.post(f"{server.url}/v1/invoices/{CONTRACT}/{PERIOD}/approve",
                       json={"source": "console"}, headers={"X-API-Key": server.keys["admin"]})
    assert again.status_code == 200 and again.json()["approval"] == approval
    assert invoices.approval(CONTRACT, PERIOD, version) == approval

    code, out, _ = run_cli([*remote("analyst"), "invoices", "list", "--status", "approved",
                            "--format", "json"], capsys)
    assert [(i["contract_id"], i["version"]) for i in loads(out)] == [(CONTRACT, version)]


def test_nothing_listening_is_an_error_and_the_local_store_is_untouched(server, cli_home,
                                                                       monkeypatch, capsys):
    # the CLI's own store holds the same draft invoice: it must stay a draft
    shutil.copytree(server.settings.home / "store", cli_home / "store")
    local = InvoiceStore(_store(cli_home))
    for v in local.versions(CONTRACT, PERIOD):
        (cli_home / "store" / "invoices" / CONTRACT / PERIOD / f"v{v}" / "_APPROVED").unlink(
            missing_ok=True)
    monkeypatch.setenv("M2C_API_KEY", server.keys["investor"])
    dead = ["--api", "http://127.0.0.1:9"]
    for argv in (["invoices", "approve", CONTRACT, PERIOD], ["invoices", "list"],
                 ["contracts", "list"], ["sites", "list"], ["vee", "TX-DC1", "--period", PERIOD]):
        code, out, err = run_cli([*dead, *argv], capsys)
        assert code == 1, argv
        assert "cannot reach the m2c API at http://127.0.0.1:9" in err and out == ""
    assert all(local.approval(CONTRACT, PERIOD, v) is None
               for v in local.versions(CONTRACT, PERIOD))


def test_contracts_list_show_add_schema(server, remote, tmp_path, capsys):
    contracts = ContractStore(_store(server.settings.home))
    code, out, err = run_cli([*remote("analyst"), "contracts", "list", "--format", "json"], capsys)
    assert code == 0, err
    assert [c["contract_id"] for c in loads(out)] == contracts.contract_ids()

    code, out, _ = run_cli([*remote("analyst"), "contracts", "schema"], capsys)
    assert code == 0 and loads(out)["$schema"].endswith("2020-12/schema")

    # show -> file -> add is a no-op (the shown document is what add takes) ...
    shown = tmp_path / "shown.yaml"
    code, out, _ = run_cli([*remote("analyst"), "contracts", "show", CONTRACT], capsys)
    assert code == 0 and out.startswith(f"# contract {CONTRACT} version 1")
    shown.write_text(out)
    before = len(contracts.versions(CONTRACT))
    code, out, err = run_cli([*remote("admin"), "contracts", "add", str(shown)], capsys)
    assert code == 0 and "unchanged, already v1" in out, err
    assert len(contracts.versions(CONTRACT)) == before

    # ... and an edited copy is the next version, stored on the server (admin only)
    doc = yaml.safe_load(shown.read_text())
    doc["effective_from"] = "2026-11-01"
    doc["terms"][0]["price_usd_per_mwh"] = "70.00"
    amended = tmp_path / "amended.yaml"
    amended.write_text(yaml.safe_dump(doc))
    code, _, err = run_cli([*remote("analyst"), "contracts", "add", str(amended)], capsys)
    assert code == 1 and "403" in err
    code, out, err = run_cli([*remote("admin"), "contracts", "add", str(amended), "--format",
                              "json"], capsys)
    assert code == 0, err
    [added] = loads(out)
    assert (added["version"], added["created"]) == (2, True)
    assert contracts.versions(CONTRACT)[-1].version.effective_from.isoformat() == "2026-11-01"
    code, out, _ = run_cli([*remote("analyst"), "contracts", "show", CONTRACT, "--version", "2",
                            "--format", "json"], capsys)
    view = loads(out)
    assert view["version"] == 2 and view["versions"] == [1, 2]
    assert view["document"]["terms"][0]["price_usd_per_mwh"] == "70.00"

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**doc, "sites": ["NOPE"]}))
    code, _, err = run_cli([*remote("admin"), "contracts", "add", str(bad)], capsys)
    assert code == 2 and "NOPE" in err                   # a 4xx problem is exit 2 here too


def test_sites_and_vee(server, remote, tmp_path, capsys):
    store = _store(server.settings.home)
    code, out, err = run_cli([*remote("analyst"), "sites", "list", "--format", "json"], capsys)
    assert code == 0, err
    registry = loads(out)
    assert registry["version"] == registry_versions(store)[-1]
    assert sorted(s["site_id"] for s in registry["sites"]) == ["TX-DC1", "TX-DC2"]

    code, out, err = run_cli([*remote("analyst"), "vee", "TX-DC1", "--period", PERIOD,
                              "--format", "json"], capsys)
    assert code == 0, err
    report = loads(out)
    assert report["site_id"] == "TX-DC1" and report["vee"]["intervals_expected"] > 0

    site = json.loads(json.dumps(registry["sites"][0]))
    site["site_id"] = "TX-NEW"
    new = tmp_path / "new_site.yaml"
    new.write_text(yaml.safe_dump({"sites": [site]}))
    before = registry_versions(store)[-1]
    code, _, err = run_cli([*remote("analyst"), "sites", "load", str(new)], capsys)
    assert code == 1 and "403" in err
    code, out, err = run_cli([*remote("admin"), "sites", "load", str(new), "--format", "json"],
                             capsys)
    assert code == 0, err
    assert loads(out)["added"] == ["TX-NEW"] and registry_versions(store)[-1] == before + 1
    code, out, _ = run_cli([*remote("admin"), "sites", "load", str(new), "--format", "json"],
                           capsys)
    assert loads(out)["status"] == "unchanged" and registry_versions(store)[-1] == before + 1


def test_ingest_by_upload(server, remote, tmp_path, capsys):
    tables = Tables(_store(server.settings.home))
    before = tables.version("meter")
    meter = tmp_path / "late_reads.csv"
    meter.write_text("site_id,channel,interval_start,interval_minutes,kwh,quality\n"
                     "TX-DC1,dc,2026-11-01T05:00:00Z,5,13711.786,A\n"
                     "TX-DC1,dc,2026-11-01T05:05:00Z,5,13695.860,A\n")
    code, _, err = run_cli([*remote("investor"), "ingest", "meter", str(meter)], capsys)
    assert code == 1 and "403" in err
    code, out, err = run_cli([*remote("scheduler"), "ingest", "meter", str(meter), "--json"],
                             capsys)
    assert code == 0, err
    report = loads(out)
    assert report["written"] and report["rows_new"] == 2 and report["files"][0]["name"] == meter.name
    assert tables.version("meter") == report["version"] == before + 1

    code, out, _ = run_cli([*remote("scheduler"), "ingest", "meter", str(meter)], capsys)
    assert code == 0 and "already ingested" in out and tables.version("meter") == before + 1

    bad = tmp_path / "bad.csv"
    bad.write_text("site_id,channel,interval_start,interval_minutes,kwh,quality\n"
                   "TX-DC1,dc,2026-11-01T05:10:00,5,1.0,A\n")
    code, _, err = run_cli([*remote("scheduler"), "ingest", "meter", str(meter), str(bad)], capsys)
    assert code == 2 and "bad.csv" in err and tables.version("meter") == before + 1

    # ISO awards and statements are validated by the server, which names the file
    for table in ("awards", "statements"):
        code, _, err = run_cli([*remote("investor"), "ingest", table, str(bad)], capsys)
        assert code == 1 and "403" in err
        code, _, err = run_cli([*remote("analyst"), "ingest", table, str(bad)], capsys)
        assert code == 2 and "bad.csv" in err, err

    files = server.settings.home.parent / "files"
    for table in ("prices", "index"):
        paths = sorted(str(p) for p in (files / table).glob("*.csv"))
        code, out, err = run_cli([*remote("analyst"), "ingest", table, *paths, "--format", "json"],
                                 capsys)
        assert code == 0, err
        assert {f["status"] for f in loads(out)["files"]} == {"already ingested"}


def test_jobs_settle_rebill_and_keys(server, remote, cli_home, capsys):
    from jobs.catalog import JobCatalog
    catalog = JobCatalog(server.settings.db_url)
    code, out, err = run_cli([*remote("scheduler"), "settle", "--period", "2026-09",
                              "--format", "json"], capsys)
    assert code == 0, err
    job = loads(out)
    assert catalog.get(job["id"]).state == "queued"          # the server's catalog has it

    for argv in (["jobs", "show", job["id"]], ["jobs", "list"]):
        code, out, err = run_cli([*remote("scheduler"), *argv, "--format", "json"], capsys)
        assert code == 0 and job["id"] in out, err
    code, out, _ = run_cli([*remote("admin"), "jobs", "cancel", job["id"], "--format", "json"],
                           capsys)
    assert code == 0 and loads(out)["state"] == "cancelled"
    code, out, _ = run_cli([*remote("admin"), "jobs", "wait", job["id"], "--format", "json"],
                           capsys)
    assert code == 1 and loads(out)["state"] == "cancelled"

    code, out, err = run_cli([*remote("scheduler"), "rebill", "--contract", CONTRACT, "--from",
                              PERIOD, "--to", PERIOD], capsys)
    assert code == 1 and "403" in err and "rebill" in err
    code, out, err = run_cli([*remote("analyst"), "rebill", "--contract", CONTRACT, "--from",
                              PERIOD, "--to", PERIOD, "--format", "json"], capsys)
    assert code == 0 and catalog.get(loads(out)["id"]).kind == "rebill", err
    code, out, err = run_cli([*remote("analyst"), "jobs", "meter-totals", "--from", PERIOD,
                              "--to", PERIOD, "--format", "json"], capsys)
    assert code == 0 and catalog.get(loads(out)["id"]).kind == "meter_totals", err

    # market: the statements the server holds (none); a shadow settlement is a job there
    code, out, err = run_cli([*remote("analyst"), "market", "statements", "--format", "json"],
                             capsys)
    assert code == 0 and loads(out) == [], err
    code, _, err = run_cli([*remote("investor"), "market", "statements"], capsys)
    assert code == 1 and "403" in err
    code, out, err = run_cli([*remote("analyst"), "market", "shadow", "--iso", "ERCOT",
                              "--resource", "R1", "--from", "2026-10-01", "--to", "2026-10-02",
                              "--job", "--format", "json"], capsys)
    assert code == 0 and catalog.get(loads(out)["id"]).kind == "shadow_settlement", err

    code, out, err = run_cli([*remote("admin"), "keys", "create", "--role", "investor",
                              "--label", "remote", "--format", "json"], capsys)
    assert code == 0, err
    created = loads(out)
    from api.keystore import KeyStore
    server_keys = KeyStore(server.settings.db_url)
    assert server_keys.authenticate(created["key"])[1].value == "investor"
    code, out, _ = run_cli([*remote("admin"), "keys", "list", "--format", "json"], capsys)
    assert created["key_id"] in out and created["key"] not in out
    code, _, err = run_cli([*remote("analyst"), "keys", "list"], capsys)
    assert code == 1 and "403" in err
    code, _, _ = run_cli([*remote("admin"), "keys", "revoke", created["key_id"]], capsys)
    assert code == 0 and server_keys.authenticate(created["key"]) is None
    assert not (cli_home / "m2c.db").exists()             # no local catalog or key store


def test_bankability_schema_run_show(server, remote, cli_home, tmp_path, capsys):
    """The model schema, a run submitted to the server's catalog (as an investor), and a
    result read from the server's store (published there, absent here)."""
    from jobs.catalog import JobCatalog
    from storage.results import ResultStore
    code, out, err = run_cli([*remote("investor"), "bankability", "schema"], capsys)
    assert code == 0 and loads(out)["$schema"].startswith("https://json-schema.org/"), err

    from tests.jobs.test_bankability_job import model
    doc = tmp_path / "model.yaml"
    doc.write_text(yaml.safe_dump(model(**{"project.contracts": [CONTRACT]}), sort_keys=False))
    code, out, err = run_cli([*remote("investor"), "bankability", "run", str(doc), "--paths", "8",
                              "--format", "json"], capsys)
    assert code == 0, err
    job = loads(out)
    assert JobCatalog(server.settings.db_url).get(job["id"]).kind == "bankability"

    summary = {"name": "published on the server", "paths": 8}
    ResultStore(_store(server.settings.home), "bankability").publish(
        "run-1", {"summary.json": json.dumps(summary).encode(), "report.html": b"<html>r</html>",
                  "p50_cashflow.csv": b"year,cfads\n2027,1\n", "paths.csv": b"path\n0\n"}, {})
    for fmt, expected in (("json", None), ("html", "<html>r</html>"), ("csv", "year,cfads")):
        code, out, err = run_cli([*remote("investor"), "bankability", "show", "run-1",
                                  "--format", fmt], capsys)
        assert code == 0, err
        assert (loads(out) == summary) if expected is None else expected in out
    assert not (cli_home / "store").exists()                  # nothing was read locally
    code, _, err = run_cli([*remote("scheduler"), "bankability", "show", "run-1"], capsys)
    assert code != 0 and "may not" in err                      # the role policy applies


def test_a_missing_key_names_the_environment_variable(remote, capsys):
    code, _, err = run_cli([*remote(None), "invoices", "list"], capsys)
    assert code == 1 and "401" in err and "M2C_API_KEY" in err and "X-API-Key" in err


def test_webhooks_through_the_api(server, remote, cli_home, capsys):
    """``m2c --api URL webhooks ...`` works on the server's catalog (admin only)."""
    from jobs.catalog import JobCatalog
    from jobs.outbox import Outbox
    code, out, err = run_cli([*remote("analyst"), "webhooks", "list"], capsys)
    assert code == 1 and "403" in err
    code, out, err = run_cli([*remote("admin"), "webhooks", "add", "http://127.0.0.1:9/hook", "--event",
                              "invoice.approved", "--format", "json"], capsys)
    assert code == 0, err
    added = loads(out)
    server_hooks = Outbox(JobCatalog(server.settings.db_url)).webhooks()
    assert [h.id for h in server_hooks] == [added["id"]] and added["secret"].startswith("whsec_")
    code, out, _ = run_cli([*remote("admin"), "webhooks", "list", "--format", "json"], capsys)
    assert code == 0 and [h["id"] for h in loads(out)] == [added["id"]]
    code, out, _ = run_cli([*remote("admin"), "webhooks", "deliveries", "--format", "json"], capsys)
    assert code == 0 and loads(out) == []
    code, _, err = run_cli([*remote("admin"), "webhooks", "remove", added["id"]], capsys)
    assert code == 0, err
    assert Outbox(JobCatalog(server.settings.db_url)).webhooks() == []
