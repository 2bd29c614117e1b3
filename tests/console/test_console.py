"""The console over HTTP (TestClient; the browser tests are ``tests/browser``): sign-in
and sessions, CSRF, the API's role checks on pages and forms, bad input answered with
a clear page and nothing changed, downloads, offline docs."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.api_app import open_client

CID, PERIOD = "PPA-TX-DC1", "2026-10"


def sign_in(client, key: str) -> str:
    """Sign in with ``key``; returns the session's CSRF token (from a page's form)."""
    page = client.get("/console/sign-in")
    token = re.search(r'name="signin_token" value="([^"]+)"', page.text)[1]
    r = client.post("/console/sign-in", data={"api_key": key, "signin_token": token, "next": "/console/jobs"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/jobs", r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/jobs").text)[1]


@pytest.fixture
def clock():
    now = [datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)]
    return now


@pytest.fixture
def console(api_settings, keys, dispatcher, clock):
    from api.app import create_app
    app = create_app(api_settings, dispatcher=dispatcher, clock=lambda: clock[0])
    with open_client(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_sign_in_sign_out_and_a_bad_key(console, keys):
    assert console.get("/", follow_redirects=False).headers["location"] == "/console/sign-in"
    r = console.get("/console/invoices", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in?next=")
    page = console.get("/console/sign-in")
    token = re.search(r'name="signin_token" value="([^"]+)"', page.text)[1]
    bad = console.post("/console/sign-in", data={"api_key": keys["revoked"], "signin_token": token})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    csrf = sign_in(console, keys["analyst"])
    assert console.get("/console/jobs").status_code == 200
    assert console.get("/", follow_redirects=False).headers["location"] == "/console/jobs"
    r = console.post("/console/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert console.get("/console/jobs", follow_redirects=False).status_code == 303     # signed out


def test_sign_in_without_its_form_token_is_refused(console, keys):
    r = console.post("/console/sign-in", data={"api_key": keys["admin"], "signin_token": "forged"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert "m2c_session" not in r.headers.get("set-cookie", "")


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_a_session_expires_when_idle_and_after_its_lifetime(console, keys, clock):
    sign_in(console, keys["analyst"])
    clock[0] += timedelta(minutes=59)
    assert console.get("/console/jobs").status_code == 200
    clock[0] += timedelta(minutes=61)                           # idle more than an hour
    r = console.get("/console/jobs", follow_redirects=False)
    assert r.status_code == 303 and "sign-in" in r.headers["location"]
    sign_in(console, keys["analyst"])
    for _ in range(9):                                          # active, but 8 hours is the most
        clock[0] += timedelta(minutes=55)
        last = console.get("/console/jobs", follow_redirects=False)
    assert last.status_code == 303


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_a_revoked_key_ends_its_sessions(console, keys, api_settings):
    from api.keystore import KeyStore
    sign_in(console, keys["scheduler"])
    store = KeyStore(api_settings.db_url)
    record = next(k for k in store.list() if k.role.value == "scheduler" and k.revoked_at is None)
    store.revoke(record.key_id, now_utc=datetime.now(timezone.utc))
    assert console.get("/console/jobs", follow_redirects=False).status_code == 303


def test_csrf_missing_or_forged_changes_nothing(console, keys, invoices):
    sign_in(console, keys["analyst"])
    for data in ({}, {"csrf_token": "forged"}):
        r = console.post(f"/console/invoices/{CID}/{PERIOD}/approve", data=data)
        assert r.status_code == 403 and "nothing was changed" in r.text
    assert invoices.approval(CID, PERIOD, 2) is None


def test_roles_on_pages_and_forms_are_the_apis(console, keys, invoices):
    csrf = sign_in(console, keys["investor"])
    page = console.get(f"/console/invoices/{CID}/{PERIOD}")
    assert page.status_code == 200 and "approve-button" not in page.text      # investors see no button
    assert "intervals</a>" not in page.text                                   # nor the drill-down
    forged = console.post(f"/console/invoices/{CID}/{PERIOD}/approve", data={"csrf_token": csrf})
    assert forged.status_code == 403 and "may not approve invoices" in forged.text
    assert invoices.approval(CID, PERIOD, 2) is None
    assert console.get(f"/console/invoices/{CID}/{PERIOD}/lines/energy_fixed:on_peak").status_code == 403
    assert console.get("/console/contracts").status_code == 403
    assert console.get("/console/webhooks").status_code == 403
    assert console.get("/console/results/scenario").status_code == 403      # not the investor's kind
    assert console.get("/console/results/bankability").status_code == 200
    nav = console.get("/console/jobs").text
    assert "/console/contracts" not in nav and "/console/results/bankability" in nav


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_approve_records_the_console_and_a_second_approval_changes_nothing(console, keys, invoices):
    csrf = sign_in(console, keys["analyst"])
    page = console.get(f"/console/invoices/{CID}/{PERIOD}")
    assert "approve-button" in page.text
    r = console.post(f"/console/invoices/{CID}/{PERIOD}/approve", data={"csrf_token": csrf, "version": "2"})
    assert r.status_code == 200 and "Approved." in r.text
    approval = invoices.approval(CID, PERIOD, 2)
    assert approval["approved_by"]["source"] == "console" and approval["approved_by"]["label"] == "test analyst"
    again = console.post(f"/console/invoices/{CID}/{PERIOD}/approve", data={"csrf_token": csrf, "version": "2"})
    assert "already approved; nothing changed" in again.text
    assert invoices.approval(CID, PERIOD, 2) == approval
    superseded = console.post(f"/console/invoices/{CID}/{PERIOD}/approve", data={"csrf_token": csrf, "version": "1"})
    assert superseded.status_code == 409 and "superseded" in superseded.text
    listed = console.get("/console/invoices?status=approved").text
    assert f'data-invoice="{CID}/{PERIOD}/v2"' in listed and f'data-invoice="{CID}/{PERIOD}/v1"' not in listed


@pytest.mark.parametrize("path", ["/console/contracts/..%2F..%2Fetc", "/console/contracts/a%2Fb",
                                  "/console/invoices/..%2Fx/2026-10", "/console/invoices/a..b%2F/2026-10",
                                  "/console/contracts/%2e%2e", "/console/invoices/PPA-TX-DC1/2026-13"])
def test_paths_with_dots_or_encoded_slashes_are_refused(console, keys, path):
    sign_in(console, keys["admin"])
    r = console.get(path)
    assert r.status_code in (400, 404, 422), (path, r.status_code)
    assert "Traceback" not in r.text


def test_downloads_pdf_csv_json_and_the_drill_down(console, keys, invoices):
    import pypdf
    sign_in(console, keys["analyst"])
    pdf = console.get(f"/console/invoices/{CID}/{PERIOD}/download/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    raw = console.get(f"/console/invoices/{CID}/{PERIOD}/download/json").content
    import hashlib
    assert "$790,900.00" in text and hashlib.sha256(raw).hexdigest()[:16] in text.replace("\n", "")
    csv_text = console.get(f"/console/invoices/{CID}/{PERIOD}/download/csv").text
    assert csv_text.startswith("journal_date,entry_id,invoice_number")
    rows = console.get(f"/console/invoices/{CID}/{PERIOD}/lines/energy_fixed:on_peak")
    assert rows.status_code == 200 and "interval_start_utc" in rows.text


def test_docs_and_redoc_are_served_offline(console):
    docs, redoc = console.get("/docs").text, console.get("/redoc").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert "/static/vendor/redoc/redoc.standalone.js" in redoc
    for page in (docs, redoc):      # no script, style sheet, font or link from another host
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|@import""", page), page
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
                  "/static/vendor/redoc/redoc.standalone.js", "/static/vendor/htmx/htmx.min.js",
                  "/static/console.css", "/static/fonts/DejaVuSans.ttf"):
        assert console.get(asset).status_code == 200, asset


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_job_pages_submit_cancel_and_a_failed_jobs_error_in_plain_words(console, keys, api_settings):
    from jobs.catalog import JobCatalog
    csrf = sign_in(console, keys["analyst"])
    r = console.post("/console/jobs", data={"csrf_token": csrf, "document": "kind: settlement\nperiod: 2026-13\n"})
    assert r.status_code == 422 and "period" in r.text
    r = console.post("/console/jobs", data={"csrf_token": csrf, "document": "kind: settlement\nperiod: '2026-10'\n"},
                     follow_redirects=False)
    assert r.status_code == 303
    job_id = r.headers["location"].rsplit("/", 1)[1]
    page = console.get(f"/console/jobs/{job_id}").text
    assert "queued" in page and 'hx-get="/console/jobs/' in page           # live while not terminal
    assert console.post(f"/console/jobs/{job_id}/cancel", data={"csrf_token": csrf}).status_code == 200
    assert JobCatalog(api_settings.db_url).get(job_id).state == "cancelled"
    assert "hx-trigger" not in console.get(f"/console/jobs/{job_id}/live").text     # stops polling
    rows = console.get("/console/jobs?state=cancelled").text
    assert f'data-job="{job_id}"' in rows
    # a failed job: its error type in plain words and its message
    catalog = JobCatalog(api_settings.db_url)
    from jobs.specs import parse_spec
    rec, _ = catalog.submit(parse_spec({"kind": "settlement", "period": "2026-09"}), now_utc=datetime.now(timezone.utc))
    catalog.mark_running(rec.id, attempt=1, runner="t", now_utc=datetime.now(timezone.utc))
    catalog.mark_failed(rec.id, "no meter data for TX-DC1 2026-09", "DataMissingError", datetime.now(timezone.utc))
    failed = console.get(f"/console/jobs/{rec.id}").text
    assert "Input data the job needs is missing" in failed and "no meter data for TX-DC1 2026-09" in failed
    # a scheduler sees settlement jobs only, and may not submit a rebill
    console.post("/console/sign-out", data={"csrf_token": csrf})
    csrf = sign_in(console, keys["scheduler"])
    r = console.post("/console/jobs", data={"csrf_token": csrf, "document": "kind: rebill\ncontract: X\n"
                                            "from_period: '2026-01'\nto_period: '2026-02'\n"})
    assert r.status_code in (403, 422)
