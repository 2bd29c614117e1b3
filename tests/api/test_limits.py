"""Hostile requests: body size limit, bounded spec fields, crafted cursors, job errors
without server paths, a bounded job list, a tampered invoice (issue 12, section 4)."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from api.app import create_app
from api.settings import Settings
from jobs.catalog import JobCatalog
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.objectstore import ObjectStore

from tests.support.api_app import auth, open_client
from tests.support.api_servers import QueueOnlyDispatcher

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
PROBLEM = "application/problem+json"


def jobs_in(settings: Settings) -> list:
    return JobCatalog(settings.db_url).list(limit=100)[0]


# --------------------------------------------------------------------------- body size

def test_a_body_over_the_limit_is_413_and_nothing_is_stored(client, keys, api_settings):
    body = {"kind": "settlement", "period": "2026-10",
            "contracts": [f"C-{i:08d}-" + "x" * 50 for i in range(20_000)]}       # ~1.3 MB
    raw = json.dumps(body).encode()
    assert len(raw) > api_settings.api_max_body_bytes == 1024 * 1024
    resp = client.post("/v1/jobs", content=raw, headers={**auth(keys["admin"]),
                                                          "Content-Type": "application/json"})
    assert resp.status_code == 413 and resp.headers["content-type"] == PROBLEM
    problem = resp.json()
    assert problem["type"].endswith("/problems/request-too-large") and problem["status"] == 413
    assert "M2C_API_MAX_BODY_BYTES" in problem["detail"] and len(resp.content) < 1000
    assert jobs_in(api_settings) == []


def test_the_limit_is_a_setting_and_holds_without_content_length(tmp_path, keys, dispatcher):
    home = tmp_path / "m2c-small"
    small = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}",
                               "M2C_API_MAX_BODY_BYTES": "2048"})
    from api.keystore import KeyStore
    key = KeyStore(small.db_url).create("admin", now_utc=NOW)[1]
    with open_client(create_app(small, dispatcher=dispatcher), raise_server_exceptions=False) as c:
        ok = {"kind": "settlement", "period": "2026-10"}
        assert c.post("/v1/jobs", json=ok, headers=auth(key)).status_code == 202
        big = json.dumps({**ok, "contracts": ["A" * 60] * 100}).encode()
        chunks = (big[i:i + 500] for i in range(0, len(big), 500))    # chunked: no length
        resp = c.post("/v1/jobs", content=chunks, headers={**auth(key),
                                                            "Content-Type": "application/json"})
        assert resp.status_code == 413 and resp.headers["content-type"] == PROBLEM
    assert len(jobs_in(small)) == 1
    with pytest.raises(Exception, match="M2C_API_MAX_BODY_BYTES"):
        Settings.from_env({"M2C_API_MAX_BODY_BYTES": "-1"})


# --------------------------------------------------------------------------- spec fields

@pytest.mark.parametrize("body, field", [
    ({"kind": "settlement", "period": "2026-10", "contracts": ["x" * 100_000]}, "contracts"),
    ({"kind": "settlement", "period": "2026-10", "contracts": ["../.."]}, "contracts"),
    ({"kind": "settlement", "period": "2026-10" + " " * 10 + "x" * 100_000}, "period"),
    ({"kind": "rebill", "contract": "c" * 100_000, "from_period": "2026-01",
      "to_period": "2026-02"}, "contract"),
    ({"kind": "rebill", "contract": "C", "from_period": "2026-01", "to_period": "2026-02",
      "reason": "r" * 100_000}, "reason"),
    ({"kind": "rebill", "contract": "C", "from_period": "2026-01", "to_period": "2026-02",
      "as_of": "2026-" + "9" * 100_000}, "as_of"),
    ({"kind": "settlement", "period": "2026-10", "as_of": {"k" * 100_000: 1}}, "as_of"),
    ({"kind": "meter_totals", "from_period": "2026-01", "to_period": "2026-01",
      "sites": ["s"] * 10_001}, "sites"),
])
def test_every_free_text_spec_field_is_bounded_and_not_echoed(client, keys, api_settings,
                                                              body, field):
    resp = client.post("/v1/jobs", json=body, headers=auth(keys["admin"]))
    assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM
    assert len(resp.content) < 4000                       # the request is not echoed back
    assert field in resp.json()["detail"]
    assert jobs_in(api_settings) == []


# --------------------------------------------------------------------------- cursors

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    _b64(b"99999999999999999999999:job-abc"), _b64(b"9223372036854775808:job-abc"),
    _b64(b"-1:job-abc"), _b64(b"1_000:job-abc"), _b64("١٢:job-abc".encode()),
    _b64(b"12"), _b64(b"12:"), _b64(b"12:job\x00x"), _b64(b"\xff\xfe:job"), _b64(b"12:" + b"j" * 65),
    "a", "ab=c", "====", "%%%", "job-abc", "YQ", "_-_-",
])
def test_crafted_cursors_are_400_problems(client, keys, cursor):
    resp = client.get("/v1/jobs", params={"cursor": cursor}, headers=auth(keys["admin"]))
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert "next_cursor" in resp.json()["detail"]


def test_a_real_cursor_still_pages(client, keys):
    for p in ("2026-01", "2026-02", "2026-03"):
        assert client.post("/v1/jobs", json={"kind": "settlement", "period": p},
                           headers=auth(keys["admin"])).status_code == 202
    first = client.get("/v1/jobs", params={"limit": 2}, headers=auth(keys["admin"])).json()
    second = client.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]},
                        headers=auth(keys["admin"])).json()
    assert len(first["data"]) == 2 and len(second["data"]) == 1 and second["next_cursor"] is None


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.one_of(st.text(max_size=80),
                 st.binary(max_size=60).map(_b64),
                 st.tuples(st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=25)),
                           st.text(max_size=70))
                 .map(lambda t: _b64(f"{t[0]}:{t[1]}".encode("utf-8", "surrogatepass")))))
def test_fuzzed_cursors_never_give_a_server_error(fuzz_client, cursor):
    client, key = fuzz_client
    resp = client.get("/v1/jobs", params={"cursor": cursor}, headers=auth(key))
    assert resp.status_code in (200, 400, 422), (cursor, resp.status_code, resp.text)
    assert resp.headers["content-type"] in (PROBLEM, "application/json")


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    """One app for every fuzzed example (a fixture per example would rebuild it)."""
    from api.keystore import KeyStore
    home = tmp_path_factory.mktemp("fuzz") / "m2c"
    s = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}"})
    key = KeyStore(s.db_url).create("admin", now_utc=NOW)[1]
    with open_client(create_app(s, dispatcher=QueueOnlyDispatcher()),
                     raise_server_exceptions=False) as c:
        yield c, key


# --------------------------------------------------------------------------- job views

def test_job_errors_show_no_server_paths_and_are_bounded(client, keys, api_settings):
    job = client.post("/v1/jobs", json={"kind": "settlement", "period": "2026-10"},
                      headers=auth(keys["admin"])).json()
    catalog = JobCatalog(api_settings.db_url)
    catalog.mark_running(job["id"], attempt=1, runner="test", now_utc=NOW)
    store_root = api_settings.storage_uri[len("file://"):]
    message = (f"get 'contracts/X/v1.json' failed: OSError: [Errno 36] File name too long: "
               f"'{store_root}/contracts/{'X' * 50_000}' (catalog {api_settings.db_url})")
    catalog.mark_failed(job["id"], message, "StorageError", now_utc=NOW)
    for url in (job["links"]["self"], "/v1/jobs"):
        resp = client.get(url, headers=auth(keys["admin"]))
        assert resp.status_code == 200
        text = resp.text
        assert str(api_settings.home) not in text and store_root not in text
        assert len(text) < 6000
    err = client.get(job["links"]["self"], headers=auth(keys["admin"])).json()["error"]
    assert err["type"] == "StorageError" and "contracts/XXXX" in err["message"]
    assert "characters; cut" in err["message"]


def test_the_job_list_summarises_large_specs_and_results(client, keys, api_settings):
    contracts = [f"PPA-{i:05d}" for i in range(3000)]                  # ~40 kB of spec
    job = client.post("/v1/jobs", json={"kind": "settlement", "period": "2026-10",
                                        "contracts": contracts},
                      headers=auth(keys["admin"])).json()
    catalog = JobCatalog(api_settings.db_url)
    catalog.mark_running(job["id"], attempt=1, runner="test", now_utc=NOW)
    result = {"invoices": [{"contract_id": c, "period": "2026-10", "version": 1}
                           for c in contracts]}
    catalog.mark_succeeded(job["id"], result, now_utc=NOW)
    listed = client.get("/v1/jobs", headers=auth(keys["admin"])).json()["data"][0]
    assert listed["spec"] == {"summarised": True, "kind": "settlement",
                              "size_bytes": listed["spec"]["size_bytes"]}
    assert listed["spec"]["size_bytes"] > 16 * 1024
    assert listed["result"]["summarised"] is True and listed["links"]["invoices"] == []
    full = client.get(job["links"]["self"], headers=auth(keys["admin"])).json()
    assert full["spec"]["contracts"] == contracts and len(full["result"]["invoices"]) == 3000


# --------------------------------------------------------------------------- invoices

def test_a_tampered_invoice_is_refused_not_served(client, keys, api_settings):
    store = InvoiceStore(ObjectStore.from_config(api_settings.storage_config()))
    detail = pa.table({"energy_wh": pa.array([1], pa.int64())})
    v = store.publish("PPA-TX-DC1", "2026-10", lambda v: InvoiceParts(
        invoice_json=json.dumps({"version": v, "total_usd": "100.00"}).encode(),
        invoice_html="<html>100.00</html>", detail_parquet=detail_to_parquet(detail)))
    url = "/v1/invoices/PPA-TX-DC1/2026-10"
    assert client.get(url, headers=auth(keys["investor"])).json()["total_usd"] == "100.00"
    part = Path(api_settings.storage_uri[len("file://"):]) / \
        f"invoices/PPA-TX-DC1/2026-10/v{v}/invoice.json"
    part.write_bytes(part.read_bytes().replace(b"100.00", b"900.00"))
    resp = client.get(url, headers=auth(keys["investor"]))
    assert resp.status_code == 500 and resp.headers["content-type"] == PROBLEM
    problem = resp.json()
    assert problem["type"].endswith("/problems/integrity")
    assert f"invoices/PPA-TX-DC1/2026-10/v{v}/invoice.json" in problem["detail"]
    assert str(api_settings.home) not in resp.text and "900.00" not in resp.text
