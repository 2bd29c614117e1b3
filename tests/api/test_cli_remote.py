"""`m2c --api URL ...`: the CLI's job and invoice commands against a real API server.

The command groups belong to the CLI; this checks that they and ``api.client`` agree
on the wire: JSON documents, exit codes (2 for bad input, 1 for other errors).
"""
from __future__ import annotations

import json

import pytest

from api.cli.main import main

from .support import ServerThread
from .test_invoices import invoices  # noqa: F401  (fixture)


@pytest.fixture
def remote(app, keys, monkeypatch):
    with ServerThread(app) as server:
        monkeypatch.setenv("M2C_API_KEY", keys["analyst"])
        yield ["--api", server.url]


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


@pytest.mark.timeout(60)
def test_remote_jobs_commands(remote, capsys):
    assert main([*remote, "settle", "--period", "2026-10", "--format", "json"]) == 0
    job = _json(capsys)
    assert job["state"] == "queued" and job["kind"] == "settlement"
    assert main([*remote, "jobs", "list", "--format", "json"]) == 0
    assert job["id"] in json.dumps(_json(capsys))
    assert main([*remote, "jobs", "show", job["id"], "--format", "json"]) == 0
    assert _json(capsys)["id"] == job["id"]
    assert main([*remote, "jobs", "cancel", job["id"], "--format", "json"]) == 0
    assert _json(capsys)["state"] == "cancelled"
    assert main([*remote, "jobs", "cancel", job["id"]]) == 1            # 409: already cancelled
    assert "already cancelled" in capsys.readouterr().err
    assert main([*remote, "settle", "--period", "2026-13"]) == 2        # 422: bad input
    assert "period" in capsys.readouterr().err
    assert main([*remote, "jobs", "show", "job-000000000000"]) == 1     # 404


@pytest.mark.timeout(60)
def test_remote_invoice_show(remote, invoices, capsys):  # noqa: F811
    assert main([*remote, "invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "json"]) == 0
    assert _json(capsys)["version"] == 2
    assert main([*remote, "invoices", "show", "PPA-TX-DC1", "2026-10", "--version", "1",
                 "--format", "html"]) == 0
    assert "v1 790888.06" in capsys.readouterr().out
    assert main([*remote, "invoices", "show", "PPA-NONE", "2026-10"]) == 1


@pytest.mark.timeout(60)
def test_remote_with_a_bad_key_fails_cleanly(remote, monkeypatch, capsys):
    monkeypatch.setenv("M2C_API_KEY", "nope")
    assert main([*remote, "jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert "401" in err and "Traceback" not in err
