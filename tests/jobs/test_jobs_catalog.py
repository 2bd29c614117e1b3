"""The job catalog on both backends: state machine, idempotency, natural-key dedupe,
concurrency, cursor pagination. Real SQLite files and real PostgreSQL databases; threads
and a second process share one catalog."""
from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import ConflictError, InputError, NotFoundError
from jobs.catalog import IdempotencyConflict, JobCatalog
from jobs.specs import parse_spec
from jobs.states import TERMINAL_STATES, TRANSITIONS, JobState
from tests.support.race import race

pytestmark = pytest.mark.catalog_backends

STATES = tuple(JobState)

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
SETTLE = parse_spec({"kind": "settlement", "period": "2026-10"})


def rebill(n: int = 1):
    return parse_spec({"kind": "rebill", "contract": f"PPA-{n}", "from_period": "2025-01",
                       "to_period": "2026-09"})


def test_init_schema_is_idempotent(catalog):
    rec, _ = catalog.submit(SETTLE, now_utc=T0)
    catalog.init_schema()                    # the ``catalog`` fixture created it once already
    JobCatalog(catalog.db_url).init_schema()
    assert catalog.get(rec.id) == rec        # and nothing stored is touched


# -- state machine ---------------------------------------------------------------------------

def _job_in(catalog: JobCatalog, state: str, n: int) -> str:
    """A fresh rebill job driven into ``state`` through legal transitions."""
    rec, _ = catalog.submit(rebill(n), now_utc=T0)
    if state == "queued":
        return rec.id
    if state == "cancelled":
        catalog.request_cancel(rec.id, T0)
        return rec.id
    if state == "failed":
        catalog.mark_failed(rec.id, "boom", "JobError", T0)
        return rec.id
    catalog.mark_running(rec.id, attempt=1, runner="test", now_utc=T0)
    if state == "cancelling":
        catalog.request_cancel(rec.id, T0)
    elif state == "succeeded":
        catalog.mark_succeeded(rec.id, {"ok": True}, T0)
    return rec.id


def _enter(catalog: JobCatalog, job_id: str, target: str):
    attempt = catalog.get(job_id).attempt + 1
    return {
        "running": lambda: catalog.mark_running(job_id, attempt=attempt, runner="r2", now_utc=T0),
        "succeeded": lambda: catalog.mark_succeeded(job_id, {"n": 1}, T0),
        "failed": lambda: catalog.mark_failed(job_id, "bad data", "DataMissingError", T0),
        "cancelled": lambda: catalog.mark_cancelled(job_id, T0),
        "cancelling": lambda: catalog.request_cancel(job_id, T0),
    }[target]()


@pytest.mark.parametrize("source", STATES)
@pytest.mark.parametrize("target", ["running", "succeeded", "failed", "cancelled", "cancelling"])
def test_every_transition(catalog, source, target):
    n = STATES.index(source) * 10 + ["running", "succeeded", "failed", "cancelled",
                                     "cancelling"].index(target)
    job_id = _job_in(catalog, source, n)
    assert catalog.get(job_id).state == source
    legal = source in TRANSITIONS[target]
    # request_cancel is the API verb: queued -> cancelled directly, cancelling is idempotent
    if target == "cancelling":
        legal = source in ("queued", "running", "cancelling")
    if target == "running" and source == "cancelling":
        legal = True              # a new attempt is recorded; the job stays cancelling
    if legal:
        rec = _enter(catalog, job_id, target)
        expected = {"cancelling": {"queued": "cancelled"}.get(source, "cancelling"),
                    "running": "cancelling" if source == "cancelling" else "running"}.get(target, target)
        assert rec.state == expected == catalog.get(job_id).state
        if rec.is_terminal:
            assert rec.finished_at == T0
    else:
        assert source in TERMINAL_STATES or target in ("succeeded",)
        with pytest.raises(ConflictError):
            _enter(catalog, job_id, target)
        assert catalog.get(job_id).state == source


def test_terminal_states_never_change(catalog):
    for n, state in enumerate(sorted(TERMINAL_STATES)):
        job_id = _job_in(catalog, state, 100 + n)
        for target in ("running", "succeeded", "failed", "cancelled", "cancelling"):
            with pytest.raises(ConflictError):
                _enter(catalog, job_id, target)
        catalog.set_progress(job_id, 1, 2, T0)     # advisory: ignored, no error
        assert catalog.get(job_id).state == state


def test_stale_attempt_is_refused(catalog):
    rec, _ = catalog.submit(rebill(), now_utc=T0)
    catalog.mark_running(rec.id, attempt=2, runner="a", now_utc=T0)
    with pytest.raises(ConflictError, match="stale"):
        catalog.mark_running(rec.id, attempt=2, runner="b", now_utc=T0)
    assert catalog.get(rec.id).runner == "a"


def test_lifecycle_fields(catalog):
    rec, created = catalog.submit(SETTLE, principal="sched", now_utc=T0)
    assert created and rec.state == "queued" and rec.attempt == 0 and rec.started_at is None
    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=9)
    catalog.mark_running(rec.id, attempt=1, runner="ray-actor:m2c-job-x", now_utc=t1)
    catalog.set_progress(rec.id, 3, 8, t1)
    mid = catalog.get(rec.id)
    assert (mid.progress_done, mid.progress_total, mid.started_at) == (3, 8, t1)
    done = catalog.mark_succeeded(rec.id, {"invoices": [], "manifest": "runs/x/manifest.json"}, t2)
    assert done.progress_done == 8 and done.finished_at == t2 and done.result["manifest"]
    d = done.to_dict()
    assert d["created_at"] == "2026-11-01T06:00:00Z" and d["progress"]["fraction"] == 1.0
    assert d["spec"] == {"kind": "settlement", "period": "2026-10", "contracts": None, "as_of": None}
    with pytest.raises(ValueError):
        catalog.set_progress(rec.id, 9, 8, t2)


def test_unknown_job(catalog):
    with pytest.raises(NotFoundError):
        catalog.get("job-000000000000")
    with pytest.raises(NotFoundError):
        catalog.request_cancel("job-000000000000", T0)
    with pytest.raises(NotFoundError):
        catalog.mark_failed("job-000000000000", "x", "X", T0)


# -- idempotency and dedupe ------------------------------------------------------------------

def test_idempotency_key(catalog):
    a, created_a = catalog.submit(rebill(1), principal="alice", idempotency_key="k1", now_utc=T0)
    b, created_b = catalog.submit(rebill(1), principal="alice", idempotency_key="k1", now_utc=T0)
    assert created_a and not created_b and a.id == b.id
    with pytest.raises(IdempotencyConflict):
        catalog.submit(rebill(2), principal="alice", idempotency_key="k1", now_utc=T0)
    # keys are scoped by principal; no principal is its own scope
    c, created_c = catalog.submit(rebill(2), principal="bob", idempotency_key="k1", now_utc=T0)
    d, created_d = catalog.submit(rebill(2), idempotency_key="k1", now_utc=T0)
    e, created_e = catalog.submit(rebill(2), idempotency_key="k1", now_utc=T0)
    assert created_c and created_d and not created_e and d.id == e.id != c.id
    # the key replays the original job even after it finished
    catalog.mark_failed(a.id, "x", "JobError", T0)
    assert catalog.submit(rebill(1), principal="alice", idempotency_key="k1", now_utc=T0)[0].id == a.id
    # as long as the API's header allows, on every backend (a B-tree entry is bounded)
    assert catalog.submit(rebill(3), idempotency_key="k" * 255, now_utc=T0)[1]
    for bad in ("", "k" * 256):
        with pytest.raises(InputError, match="1 to 255 characters"):
            catalog.submit(rebill(3), idempotency_key=bad, now_utc=T0)


def test_natural_key_dedupe(catalog):
    a, created = catalog.submit(SETTLE, now_utc=T0)
    b, again = catalog.submit(parse_spec({"kind": "settlement", "period": "2026-10",
                                          "contracts": None}), now_utc=T0)
    assert created and not again and a.id == b.id
    other, created_other = catalog.submit(
        parse_spec({"kind": "settlement", "period": "2026-10", "contracts": ["PPA-1"]}), now_utc=T0)
    assert created_other and other.id != a.id
    catalog.mark_running(a.id, attempt=1, runner="r", now_utc=T0)
    catalog.mark_succeeded(a.id, {}, T0)
    assert catalog.submit(SETTLE, now_utc=T0)[0].id == a.id        # settled once
    # a failed or cancelled settlement may be submitted again
    catalog.mark_failed(other.id, "no prices", "DataMissingError", T0)
    again_other, created_again = catalog.submit(
        parse_spec({"kind": "settlement", "period": "2026-10", "contracts": ["PPA-1"]}), now_utc=T0)
    assert created_again and again_other.id != other.id
    # rebills are deliberate re-runs: never deduped by content
    assert catalog.submit(rebill(), now_utc=T0)[0].id != catalog.submit(rebill(), now_utc=T0)[0].id


def test_twenty_threads_one_month_end_job(catalog):
    results = race(lambda i: JobCatalog(catalog.db_url).submit(
        SETTLE, principal="scheduler", idempotency_key=f"month-end-{i % 3}", now_utc=T0), 20)
    assert len({rec.id for rec, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert catalog.counts_by_state()["queued"] == 1


def _submit_in_child(db_url: str, n: int, out) -> None:
    cat = JobCatalog(db_url)
    ids = {cat.submit(SETTLE, now_utc=T0)[0].id for _ in range(n)}
    out.put(sorted(ids))


def test_two_processes_share_the_file(catalog):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_submit_in_child, args=(catalog.db_url, 10, out)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert got[0] == got[1] and len(got[0]) == 1


# -- listing ----------------------------------------------------------------------------------

def test_cursor_pagination_stable_while_inserting(catalog):
    ids = []
    for i in range(25):
        rec, _ = catalog.submit(rebill(i), now_utc=T0 + timedelta(seconds=i // 2))   # ties on time
        ids.append(rec.id)
    seen, cursor, page_no = [], None, 0
    while True:
        page, cursor = catalog.list(limit=7, cursor=cursor)
        seen += [r.id for r in page]
        # newer jobs arrive between pages; they must not shift or repeat later pages
        catalog.submit(rebill(1000 + page_no), now_utc=T0 + timedelta(hours=1, seconds=page_no))
        page_no += 1
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(ids) <= set(seen)
    expected = sorted(catalog.list(limit=500)[0], key=lambda r: (r.created_at, r.id), reverse=True)
    assert [r.id for r in catalog.list(limit=500)[0]] == [r.id for r in expected]


def test_list_filters_and_counts(catalog):
    a, _ = catalog.submit(SETTLE, now_utc=T0)
    b, _ = catalog.submit(rebill(), now_utc=T0 + timedelta(seconds=1))
    catalog.request_cancel(b.id, T0)
    assert [r.id for r in catalog.list(kind="settlement")[0]] == [a.id]
    assert [r.id for r in catalog.list(state="cancelled")[0]] == [b.id]
    assert [r.id for r in catalog.nonterminal()] == [a.id]
    counts = catalog.counts_by_state()
    assert counts["queued"] == 1 and counts["cancelled"] == 1 and set(counts) == set(STATES)
    with pytest.raises(InputError):
        catalog.list(state="done")
    with pytest.raises(InputError):
        catalog.list(cursor="%%%")
    with pytest.raises(InputError):
        catalog.list(limit=0)


@pytest.mark.parametrize("url", ["mysql://db/m2c", "sqlite:///", "sqlite://relative.db",
                                 "postgresql://m2c:secret@db:5432", "", "m2c.db"])
def test_bad_url(url):
    with pytest.raises(InputError) as err:
        JobCatalog(url)
    assert "secret" not in str(err.value)
