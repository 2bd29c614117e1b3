"""api.client.ApiClient against a real server: results and error mapping onto engine.errors."""
from __future__ import annotations

import pytest

from api.client import ApiClient, ApiError
from engine.errors import ConflictError, InputError, NotFoundError
from tests.support.api_servers import ServerThread

REBILL = {"kind": "rebill", "contract": "PPA-TX-DC1", "from_period": "2026-01", "to_period": "2026-03"}


@pytest.fixture
def server(app):
    with ServerThread(app) as s:
        yield s


@pytest.mark.timeout(60)
def test_client_round_trip(server, keys):
    with ApiClient(server.url, keys["analyst"]) as api:
        job = api.submit_job(REBILL, idempotency_key="rb-1")
        assert api.submit_job(REBILL, idempotency_key="rb-1")["id"] == job["id"]
        assert api.get_job(job["id"]) == job
        page = api.list_jobs(kind="rebill", limit=10)
        assert [j["id"] for j in page["data"]] == [job["id"]] and page["next_cursor"] is None
        seen = []
        cancelled = api.cancel_job(job["id"])
        assert cancelled["state"] == "cancelled"
        final = api.wait_job(job["id"], poll_s=0.01, on_progress=seen.append)
        assert final["state"] == "cancelled" and seen == [final]


@pytest.mark.timeout(60)
def test_client_maps_problems_to_engine_errors(server, keys):
    with ApiClient(server.url, keys["analyst"]) as api:
        with pytest.raises(InputError, match="period"):
            api.submit_job({"kind": "settlement", "period": "26-10"})
        api.submit_job(REBILL, idempotency_key="k")
        with pytest.raises(InputError, match="Idempotency-Key"):
            api.submit_job({**REBILL, "reason": "other"}, idempotency_key="k")
        with pytest.raises(NotFoundError):
            api.get_job("job-000000000000")
        with pytest.raises(NotFoundError):
            api.get_invoice("PPA-NONE", "2026-10")
        job = api.submit_job({**REBILL, "reason": "to cancel"})
        api.cancel_job(job["id"])
        with pytest.raises(ConflictError):
            api.cancel_job(job["id"])
        queued = api.submit_job({**REBILL, "reason": "stays queued"})
        with pytest.raises(ApiError, match="still queued"):
            api.wait_job(queued["id"], poll_s=0.01, timeout_s=0.05)
    with ApiClient(server.url, "m2c_000000000000_" + "A" * 43) as bad:
        with pytest.raises(ApiError) as info:
            bad.list_jobs()
        assert info.value.status == 401
    with ApiClient(server.url, keys["investor"]) as investor:
        with pytest.raises(ApiError) as info:
            investor.submit_job(REBILL)
        assert info.value.status == 403


def test_client_reports_an_unreachable_api():
    with ApiClient("http://127.0.0.1:9", "k", timeout_s=2) as api:
        with pytest.raises(ApiError, match="cannot reach the m2c API at http://127.0.0.1:9"):
            api.get_job("job-1")
