"""The compiled passes (``engine.kernels``) change no byte of what any caller of the
engine publishes: the settlement (a backfill over a DST month), the rebill, the
scenarios and the bankability run are each run in this process with their own plan,
map and reduce, once on the compiled passes and once on the NumPy path (``MIN_SIZE``
raised above every array), on two copies of one store, and every object they write
is compared byte for byte.

The kernels are also shown to have been taken (a spy on ``engine.kernels._jit``), so
the comparison is not two runs of the NumPy path.
"""
from __future__ import annotations

import copy

import pytest

from engine import kernels
from jobs.kinds import get_kind
from jobs.specs import parse_spec
from jobs.tasks import JobContext, WorkerContext
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from tests.jobs.test_bankability_job import model
from tests.support.portfolio import NOW

pytestmark = [pytest.mark.timeout(600)]

#: the demo portfolio over February and March 2026 (DST begins on 8 March in the
#: sites' US zones: a 743-hour month), 5-minute meters
DST = {"sites": 2, "months": 2, "minutes": 5, "end_period": "2026-03"}


def _run(store: ObjectStore, spec_doc: dict, job_id: str) -> dict:
    """plan -> every partition (its staged objects written, as a commit would) -> reduce."""
    spec = parse_spec(spec_doc)
    kind = get_kind(spec.kind)
    jctx = JobContext(store=store, job_id=job_id, now_utc=NOW, partition_size=2)
    results, cache = {}, {}
    for part in kind.plan(spec, jctx):
        wctx = WorkerContext(store=store, job_id=job_id, attempt=1, cache=cache)
        results[part.key] = kind.run_partition(part, wctx)
        for key, data in wctx.staged.items():
            store.put(key, data)
    return kind.reduce(spec, results, jctx)


def _objects(store: ObjectStore) -> dict[str, bytes]:
    return {k: store.get(k) for k in store.list("") if not k.startswith("_delta") and "_delta_log" not in k}


@pytest.fixture
def kernel_switch(monkeypatch):
    """``on(True/False)``: compiled passes or the NumPy path; ``taken``: the compiled
    passes looked up since the last switch."""
    real = kernels._jit

    class Switch:
        taken = 0

        def on(self, compiled: bool) -> None:
            self.taken = 0
            monkeypatch.setattr(kernels, "MIN_SIZE", 512 if compiled else 10**18)

    sw = Switch()

    def spy():
        sw.taken += 1
        return real()
    monkeypatch.setattr(kernels, "_jit", spy)
    return sw


def _both(demo_stores, tmp_path, options: dict, kernel_switch, steps) -> None:
    """Run ``steps(store)`` on two copies of the demo store, compiled then NumPy, and
    compare what they return and every object they leave."""
    outs, objects = [], []
    for compiled in (True, False):
        _, store = demo_stores.copy(tmp_path / ("compiled" if compiled else "numpy"), **options)
        kernel_switch.on(compiled)
        outs.append(steps(store))
        if compiled:
            assert kernel_switch.taken > 0, "the compiled passes were not taken"
        else:
            assert kernel_switch.taken == 0
        objects.append(_objects(store))
    assert outs[0] == outs[1]
    assert objects[0].keys() == objects[1].keys()
    differ = sorted(k for k in objects[0] if objects[0][k] != objects[1][k])
    assert not differ, differ


def test_a_settlement_backfill_over_a_dst_month_publishes_the_same_bytes(demo_stores, tmp_path,
                                                                        kernel_switch):
    def steps(store):
        result = _run(store, {"kind": "settlement", "from_period": "2026-02", "to_period": "2026-03"},
                      "job-settle")
        invoices = InvoiceStore(store)
        assert {p for _, p, _ in invoices.list()} == {"2026-02", "2026-03"}
        for cid, period, version in invoices.list(period="2026-03"):
            doc, _ = invoices.get(cid, period, version)
            assert doc["vee"]["intervals_expected"] == 743 * 12      # the 23-hour day billed
        return result
    _both(demo_stores, tmp_path, DST, kernel_switch, steps)


def test_a_rebill_over_a_dst_month_publishes_the_same_bytes(demo_stores, tmp_path, kernel_switch):
    def steps(store):
        _run(store, {"kind": "settlement", "from_period": "2026-02", "to_period": "2026-03"},
             "job-settle")
        invoices = InvoiceStore(store)
        for cid, period, version in invoices.list(contract_id="PPA-TX-DC1"):
            invoices.approve(cid, period, version=version, now_utc=NOW)
        return _run(store, {"kind": "rebill", "contract": "PPA-TX-DC1", "from_period": "2026-02",
                            "to_period": "2026-03", "reason": "kernel identity"}, "job-rebill")
    _both(demo_stores, tmp_path, DST, kernel_switch, steps)


def test_a_scenario_run_gives_the_same_bytes(demo_stores, tmp_path, kernel_switch):
    from tests.jobs.scenario_fixtures import DEMO, scenario_doc

    def steps(store):
        return _run(store, {"kind": "scenario", "document": scenario_doc()}, "job-scenario")
    _both(demo_stores, tmp_path, DEMO, kernel_switch, steps)


def test_a_bankability_run_gives_the_same_bytes(demo_stores, tmp_path, kernel_switch):
    """Over the test module's typical year (hourly; two DST months in it), few paths."""
    doc = copy.deepcopy(model(**{"uncertainty.paths": 8}))

    def steps(store):
        return _run(store, {"kind": "bankability", "model": doc}, "job-bankability")
    _both(demo_stores, tmp_path, {"sites": 2, "months": 12, "minutes": 60}, kernel_switch, steps)
