"""End-to-end console tests in a real headless Chromium (Debian's ``chromium``), driven by
Playwright for Python with ``executable_path`` (no browser is downloaded), against a
real server (uvicorn in a thread on loopback) over a demo portfolio whose invoices
were settled and published in process (numbered, indexed).

One browser for the module; each test gets a fresh context (cookies) in it. Every
request the browser makes to a host other than the server is aborted and recorded
(``offline_violations``): the console must work without the internet. Screenshots of
the main pages go to ``tests/artifacts/screenshots/`` (git-ignored).

On a machine without Chromium (or without the ``playwright`` package) every test here
is skipped with the reason, and ``tests/conftest.py`` prints them in a block at the
end of the run: never a silent pass.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

#: Debian's chromium (``M2C_TEST_CHROMIUM`` names another build, or a missing one to see
#: the summary of what did not run)
CHROMIUM = Path(os.environ.get("M2C_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian package chromium; .ci/run installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason:
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=f"BROWSER TEST NOT RUN: {reason}"))


class Server:
    def __init__(self, app):
        import uvicorn
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the console server did not start")
            time.sleep(0.05)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory, demo_stores):
    """The server and what it serves: keys per role, the store, the catalog, invoices."""
    if _missing():
        pytest.skip(_missing())
    from api.app import create_app
    from api.keystore import KeyStore
    from api.settings import Settings
    from jobs.catalog import JobCatalog
    from jobs.contract_period import settle_contract_period
    from jobs.invoice_index import InvoiceIndex
    from jobs.invoicing import InvoiceDraft, publish_invoices
    from jobs.settle_inputs import DataVersions
    from storage.contracts import ContractStore
    from storage.tables import Tables
    from tests.support.api_servers import QueueOnlyDispatcher
    root = tmp_path_factory.mktemp("browser")
    _, store = demo_stores.copy(root / "store", minutes=15)
    settings = Settings.from_env({"M2C_HOME": str(root), "M2C_STORAGE": store.config.uri,
                                  "M2C_DB": f"sqlite:///{root / 'm2c.db'}"})
    catalog = JobCatalog(settings.db_url)
    catalog.init_schema()
    now = datetime.now(timezone.utc)
    keys = {role: KeyStore(settings.db_url).create(role, now_utc=now, label=f"{role} desk")[1]
            for role in ("scheduler", "analyst", "investor", "admin")}
    data = DataVersions.resolve(Tables(store), store)
    drafts = []
    contracts = ContractStore(store).contract_ids()
    for cid in contracts:
        stored = ContractStore(store).versions(cid)
        drafts.append(InvoiceDraft(settle_contract_period(store, Tables(store), stored, "2026-10", data, cache={}),
                                   stored, data))
    index = InvoiceIndex(catalog, store.config.uri)
    index.mark_built(now_us=0)
    publish_invoices(store, drafts, run_id="browser-run", now_utc=now, index=index)
    server = Server(create_app(settings, dispatcher=QueueOnlyDispatcher(), webhook_interval_s=3600))
    yield {"url": server.url, "keys": keys, "store": store, "catalog": catalog, "contracts": contracts}
    server.stop()


@pytest.fixture(scope="module")
def browser_context_factory(site):
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        profile = tempfile.mkdtemp(prefix="m2c-chromium-")
        ctx = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                   args=LAUNCH_ARGS, accept_downloads=True,
                                                   viewport={"width": 1280, "height": 900})
        yield ctx
        ctx.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context_factory, site):
    """A page with no cookies; requests off the server's host are aborted and recorded."""
    ctx = browser_context_factory
    ctx.clear_cookies()
    violations: list[str] = []

    def guard(route):
        if route.request.url.startswith(site["url"]) or route.request.url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            violations.append(route.request.url)
            route.abort()
    ctx.route("**/*", guard)
    pg = ctx.new_page()
    pg.offline_violations = violations
    yield pg
    pg.close()
    ctx.unroute("**/*")
    assert violations == [], f"the console tried to reach other hosts: {violations[:5]}"


def sign_in(page, site, role: str) -> None:
    page.goto(site["url"] + "/")
    page.fill("input[name=api_key]", site["keys"][role])
    page.click("button[type=submit]")
    page.wait_for_url("**/console/jobs")


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
