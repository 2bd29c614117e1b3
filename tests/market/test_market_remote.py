"""``m2c --api URL market ...``: every market command goes through the API and prints
the same bytes as it does locally over the same store (rules, shadow, reconcile,
chain, in every format); the role policy, the synchronous limit of the shadow endpoint
and missing data answer the same way (exit codes, messages) both ways. (``market
shadow --job`` and ``market statements`` through the API: ``tests/remote``.)

The server (a real uvicorn in a thread) serves the chain portfolio's store; the CLI
runs once with ``--api`` and an empty home of its own, once locally on that store."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import yaml

from api.cli.main import main
from engine.sites import parse_sites
from jobs.market import shadow_in_process
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_awards, ingest_meter, ingest_prices, ingest_statements
from storage.objectstore import ObjectStore
from storage.sites import save_sites
from tests.support.api_servers import QueueOnlyDispatcher, ServerThread
from tests.support.market import (CHAIN_RESOURCE, CHAIN_SITE, CHAIN_SITES_YAML, NOW, chain_contract,
                                  statement_csv_from, write_chain_files)

FIRST = date(2026, 2, 1)
SID = "ERCOT-RTM-QBB-20260201"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from api.app import create_app
    from api.keystore import KeyStore
    from api.settings import Settings
    root = tmp_path_factory.mktemp("market-remote")
    home = root / "server"
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}"))
    sites = parse_sites(yaml.safe_load(CHAIN_SITES_YAML))
    save_sites(store, sites)
    files = write_chain_files(root, FIRST, 28)
    ingest_meter(store, [files["meter"]], "csv", sites=sites, now_utc=NOW)
    ingest_prices(store, [files["prices"]], now_utc=NOW)
    ingest_awards(store, [files["awards"]], sites=sites, now_utc=NOW)
    ContractStore(store).add(chain_contract("PPA-BB-RT"), sites=sites)
    lines, _ = shadow_in_process(store, "ERCOT", CHAIN_RESOURCE, FIRST, FIRST)
    rows = statement_csv_from(lines, SID).splitlines()
    cells = rows[7].split(",")
    cells[-1] = "123.45"                                             # one planted mismatch
    rows[7] = ",".join(cells)
    st = root / "statement.csv"
    st.write_text("\n".join(rows) + "\n")
    ingest_statements(store, [st], sites=sites, now_utc=NOW)
    settings = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}"})
    keys = KeyStore(settings.db_url)
    now = datetime.now(timezone.utc)
    with ServerThread(create_app(settings, dispatcher=QueueOnlyDispatcher())) as srv:
        srv.home = home
        srv.keys = {r: keys.create(r, now_utc=now)[1] for r in ("analyst", "investor", "scheduler")}
        yield srv


@pytest.fixture
def both(server, tmp_path, monkeypatch, capsys):
    """Run an argv through the API and locally over the server's store: both results."""
    def run(argv: list[str], role: str = "analyst"):
        out = {}
        for where in ("remote", "local"):
            for var in ("M2C_DB", "RAY_ADDRESS", "M2C_API_URL", "M2C_API_KEY"):
                monkeypatch.delenv(var, raising=False)
            if where == "remote":
                monkeypatch.setenv("M2C_HOME", str(tmp_path / "cli"))
                monkeypatch.setenv("M2C_STORAGE", f"file://{tmp_path / 'cli' / 'store'}")
                monkeypatch.setenv("M2C_API_KEY", server.keys[role])
                args = ["--api", server.url, *argv]
            else:
                monkeypatch.setenv("M2C_HOME", str(server.home))
                monkeypatch.setenv("M2C_STORAGE", f"file://{server.home / 'store'}")
                args = list(argv)
            code = main(args)
            o = capsys.readouterr()
            out[where] = (code, o.out, o.err)
        assert not (tmp_path / "cli" / "store").exists()          # nothing read or written there
        return out["remote"], out["local"]
    return run


CASES = {
    "rules": ["market", "rules", "--iso", "PJM"],
    "rules json": ["market", "rules", "--iso", "ERCOT", "--format", "json"],
    "shadow": ["market", "shadow", "--iso", "ERCOT", "--resource", CHAIN_RESOURCE, "--from",
               "2026-02-01", "--to", "2026-02-02"],
    "shadow lines csv": ["market", "shadow", "--iso", "ERCOT", "--resource", CHAIN_RESOURCE,
                         "--from", "2026-02-02", "--to", "2026-02-02", "--lines", "--format", "csv"],
    "shadow html": ["market", "shadow", "--iso", "ERCOT", "--resource", CHAIN_RESOURCE, "--from",
                    "2026-02-01", "--to", "2026-02-01", "--format", "html"],
    "reconcile": ["market", "reconcile", "--statement", SID],
    "reconcile all json": ["market", "reconcile", "--statement", SID, "--all", "--format", "json"],
    "reconcile csv": ["market", "reconcile", "--statement", SID, "--tolerance", "5", "--format", "csv"],
    "reconcile html": ["market", "reconcile", "--statement", SID, "--format", "html"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_output_through_the_api_as_locally(both, case):
    remote, local = both(CASES[case])
    assert remote[0] == 0, remote[2]
    assert remote == local
    if case == "reconcile":
        assert "1 mismatch(es) beyond 0.01 USD" in remote[1]


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "html"])
def test_chain_through_the_api(both, fmt):
    remote, local = both(["market", "chain", "--site", CHAIN_SITE, "--period", "2026-02",
                          "--format", fmt])
    assert remote[0] == 0, remote[2]
    assert remote == local


def test_missing_data_is_exit_1_both_ways(both):
    # March holds no data: the shadow settlement lacks metered energy (409 through the API)
    remote, local = both(["market", "shadow", "--iso", "ERCOT", "--resource", CHAIN_RESOURCE,
                          "--from", "2026-03-01", "--to", "2026-03-01"])
    assert remote[0] == local[0] == 1
    assert "missing" in local[2] and "409" in remote[2] and "missing" in remote[2]


def test_roles_limits_and_errors_answer_alike(both):
    remote, _ = both(["market", "reconcile", "--statement", SID], role="investor")
    assert remote[0] == 1 and "403" in remote[2]
    remote, local = both(["market", "rules", "--iso", "CAISO"], role="scheduler")
    assert remote == local and remote[0] == 0               # the rule table is not data
    remote, local = both(["market", "shadow", "--iso", "ERCOT", "--resource", CHAIN_RESOURCE,
                          "--from", "2026-01-01", "--to", "2026-06-30"])
    assert remote[0] == 2 and "at most 93" in remote[2] and "--job" in remote[2]
    remote, local = both(["market", "reconcile", "--statement", SID, "--version", "final"])
    assert remote[0] == local[0] == 2
    assert "no version 'final'" in remote[2] and "no version 'final'" in local[2]
    remote, local = both(["market", "shadow", "--iso", "ERCOT", "--resource", "GHOST",
                          "--from", "2026-02-01", "--to", "2026-02-01"])
    assert remote[0] == local[0] == 2 and "unknown resource 'GHOST'" in remote[2]
