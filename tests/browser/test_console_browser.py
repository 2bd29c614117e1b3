"""The console in headless Chromium (see ``conftest.py``): sign-in and sign-out, role
limits seen and enforced, live job progress, approval, the PDF download, ``/docs``
offline."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

from tests.browser.conftest import shot, sign_in

PERIOD = "2026-10"


def test_sign_in_and_sign_out(page, site):
    page.goto(site["url"] + "/console/invoices")
    page.wait_for_url(re.compile(r".*/console/sign-in\?next=.*"))
    page.fill("input[name=api_key]", "m2c_000000000000_" + "x" * 43)
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.inner_text(".error")
    page.fill("input[name=api_key]", site["keys"]["analyst"])
    page.click("button[type=submit]")
    page.wait_for_url("**/console/invoices")            # back where it was going
    assert "analyst desk" in page.inner_text(".who")
    cookie = next(c for c in page.context.cookies() if c["name"] == "m2c_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("m2c_session") == -1     # not readable by scripts
    shot(page, "invoices")
    page.click("text=Sign out")
    page.wait_for_url("**/console/sign-in")
    page.goto(site["url"] + "/console/jobs")
    page.wait_for_url(re.compile(r".*/console/sign-in.*"))


def test_an_investor_sees_no_approve_button_and_a_forged_post_is_refused(page, site):
    cid = site["contracts"][0]
    sign_in(page, site, "investor")
    assert page.locator("nav >> text=Contracts").count() == 0
    page.goto(f"{site['url']}/console/invoices/{cid}/{PERIOD}")
    assert page.locator("#approve-button").count() == 0
    assert page.locator("text=intervals").count() == 0
    shot(page, "invoice-investor")
    # the forged form: the session's own CSRF token, posted from the page by script
    status = page.evaluate("""async ([cid, period]) => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({csrf_token: token});
        const r = await fetch(`/console/invoices/${cid}/${period}/approve`, {method: 'POST', body});
        return [r.status, await r.text()];
    }""", [cid, PERIOD])
    assert status[0] == 403 and "may not approve invoices" in status[1]
    from storage.invoices import InvoiceStore
    assert InvoiceStore(site["store"]).approval(cid, PERIOD, 1) is None


def test_live_job_progress_then_its_error_in_plain_words(page, site):
    from jobs.specs import parse_spec
    catalog = site["catalog"]
    now = datetime.now(timezone.utc)
    rec, _ = catalog.submit(parse_spec({"kind": "settlement", "period": "2026-08"}), now_utc=now)
    catalog.mark_running(rec.id, attempt=1, runner="browser-test", now_utc=now)
    catalog.set_progress(rec.id, 1, 4, now)
    sign_in(page, site, "admin")
    page.goto(f"{site['url']}/console/jobs/{rec.id}")
    assert "1 of 4 partitions" in page.inner_text("#job-progress")
    catalog.set_progress(rec.id, 3, 4, datetime.now(timezone.utc))       # the page polls: no reload
    page.wait_for_function("document.querySelector('#job-progress').textContent.includes('3 of 4')",
                           timeout=10_000)
    shot(page, "job-running")
    catalog.mark_failed(rec.id, "no meter data for site TX-DC1 in 2026-08 (channel gt1)", "DataMissingError",
                        datetime.now(timezone.utc))
    page.wait_for_selector("#job-live[data-state=failed]", timeout=10_000)
    text = page.inner_text("#job-live")
    assert "Input data the job needs is missing" in text and "channel gt1" in text
    page.goto(site["url"] + "/console/jobs?state=failed")
    assert page.locator(f"tr[data-job='{rec.id}']").count() == 1
    shot(page, "jobs")


def test_approve_from_the_console_and_download_the_pdf(page, site):
    import pypdf
    cid = site["contracts"][1]
    sign_in(page, site, "analyst")
    page.goto(f"{site['url']}/console/invoices/{cid}/{PERIOD}")
    number = page.inner_text("h1").split()[1]
    assert re.fullmatch(r"[A-Z0-9-]+-\d{6}", number)
    page.click("#approve-button")
    page.wait_for_selector("text=Approved. The approval records your key")
    assert page.inner_text("#invoice-status") == "approved" and page.locator("#approve-button").count() == 0
    frame = page.frame_locator("iframe.document")                  # the invoice page itself
    frame.locator(".doc h1").wait_for()
    assert number in frame.locator("body").inner_text()
    shot(page, "invoice-approved")
    from storage.invoices import InvoiceStore
    approval = InvoiceStore(site["store"]).approval(cid, PERIOD, 1)
    assert approval["approved_by"]["source"] == "console" and approval["approved_by"]["label"] == "analyst desk"
    with page.expect_download() as info:
        page.click("#download-pdf")
    pdf = pypdf.PdfReader(io.BytesIO(open(info.value.path(), "rb").read()))
    text = "".join(p.extract_text() for p in pdf.pages)
    assert number in text and "Approved" in text and "SHA-256" in text
    fonts = {str(f.get_object()["/BaseFont"]) for p in pdf.pages
             for f in (p["/Resources"].get("/Font") or {}).values()}
    assert fonts and all("DejaVu" in f for f in fonts)                     # the shipped fonts only
    # the drill-down of a line, and the contract pages
    page.goto(f"{site['url']}/console/invoices/{cid}/{PERIOD}")
    page.click("text=intervals >> nth=0")
    page.wait_for_selector("table.dense")
    assert "interval rows below sum to" in page.inner_text("main")
    page.goto(f"{site['url']}/console/contracts/{cid}")
    shot(page, "contract")


def test_docs_render_offline(page, site):
    page.goto(site["url"] + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)     # Swagger UI built its DOM
    assert page.locator(".opblock-tag").count() >= 3
    shot(page, "docs")
    page.goto(site["url"] + "/redoc")
    page.wait_for_selector("[role=navigation], .menu-content", timeout=20_000)
    spec = json.loads(page.evaluate("fetch('/openapi.json').then(r => r.text())"))
    assert "/v1/webhooks" in spec["paths"] and "/console/jobs" not in spec["paths"]
