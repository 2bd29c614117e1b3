"""`m2c --api URL ...`: the CLI's job and invoice commands against a real API server.

The command groups belong to the CLI; this checks that they and ``api.client`` agree
on the wire: JSON documents, exit codes (2 for bad input, 1 for other errors). The
server is the API tests' app (``tests/support/api_app.py``) on a loopback port.
"""
from __future__ import annotations

import json

import pytest

from tests.support.api_servers import ServerThread


@pytest.fixture
def remote(local_cli_env, app, keys, monkeypatch):
    with ServerThread(app) as server:
        monkeypatch.setenv("M2C_API_KEY", keys["analyst"])
        yield ["--api", server.url]


@pytest.mark.timeout(60)
def test_remote_jobs_commands(remote, m2c):
    job = m2c.json(*remote, "settle", "--period", "2026-10", "--format", "json")
    assert job["state"] == "queued" and job["kind"] == "settlement"
    assert job["id"] in json.dumps(m2c.json(*remote, "jobs", "list", "--format", "json"))
    assert m2c.json(*remote, "jobs", "show", job["id"], "--format", "json")["id"] == job["id"]
    assert m2c.json(*remote, "jobs", "cancel", job["id"], "--format", "json")["state"] == "cancelled"
    assert "already cancelled" in m2c(*remote, "jobs", "cancel", job["id"], code=1).err   # 409
    assert "period" in m2c(*remote, "settle", "--period", "2026-13", code=2).err          # 422: bad input
    m2c(*remote, "jobs", "show", "job-000000000000", code=1)                              # 404


@pytest.mark.timeout(60)
def test_remote_invoice_show(remote, invoices, m2c):
    assert m2c.json(*remote, "invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "json")["version"] == 2
    assert "v1 790888.06" in m2c(*remote, "invoices", "show", "PPA-TX-DC1", "2026-10", "--version", "1",
                                 "--format", "html").out
    m2c(*remote, "invoices", "show", "PPA-NONE", "2026-10", code=1)


@pytest.mark.timeout(60)
def test_remote_with_a_bad_key_fails_cleanly(remote, monkeypatch, m2c):
    monkeypatch.setenv("M2C_API_KEY", "nope")
    err = m2c(*remote, "jobs", "list", code=1).err
    assert "401" in err and "Traceback" not in err
