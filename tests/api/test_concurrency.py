"""20 schedulers fire the same month-end trigger at a real server at once: one job.

Real uvicorn on a loopback port, a real catalog (SQLite in WAL mode and PostgreSQL, shared
by the server's worker threads), 20 client threads released together by a barrier.
"""
from __future__ import annotations

import threading

import httpx
import pytest

from jobs.catalog import JobCatalog
from tests.support.api_servers import ServerThread

CLIENTS = 20
SETTLE = {"kind": "settlement", "period": "2026-10"}

pytestmark = pytest.mark.catalog_backends     # SQLite and a real PostgreSQL


def _fire(url: str, headers_for, n: int) -> list[httpx.Response]:
    barrier = threading.Barrier(n)
    responses: list[httpx.Response | None] = [None] * n

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            barrier.wait()
            responses[i] = c.post("/v1/jobs", json=SETTLE, headers=headers_for(i))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in responses)
    return responses  # type: ignore[return-value]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("idempotency", ["none", "same-key", "own-key"])
def test_concurrent_month_end_triggers_create_one_job(app, api_settings, keys, dispatcher,
                                                      idempotency):
    def headers_for(i: int) -> dict[str, str]:
        h = {"X-API-Key": keys["scheduler"]}
        if idempotency == "same-key":
            h["Idempotency-Key"] = '"settle-2026-10"'
        elif idempotency == "own-key":
            h["Idempotency-Key"] = f'"scheduler-{i}"'
        return h

    with ServerThread(app) as server:
        responses = _fire(server.url, headers_for, CLIENTS)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (CLIENTS - 1) + [202], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.headers["location"] for r in responses}) == 1
    jobs, _ = JobCatalog(api_settings.db_url).list(kind="settlement")
    assert len(jobs) == 1
    assert dispatcher.submitted == [jobs[0].id]        # handed off exactly once
