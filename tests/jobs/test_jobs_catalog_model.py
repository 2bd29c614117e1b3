"""The catalog against a model of the state machine (Hypothesis stateful testing), and
racing transitions from many threads; on both backends."""
from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition, rule,
                                 run_state_machine_as_test)

from engine.errors import ConflictError
from jobs.specs import parse_spec
from jobs.states import TERMINAL_STATES
from tests.support.catalog import open_catalog
from tests.support.race import race

pytestmark = pytest.mark.catalog_backends

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
_n = itertools.count()


def _rebill():
    return parse_spec({"kind": "rebill", "contract": f"C{next(_n)}", "from_period": "2026-01",
                       "to_period": "2026-02"})


class CatalogModel(RuleBasedStateMachine):
    """Every operation on a random job either does what the model says or raises
    ConflictError exactly when the model says the transition is illegal."""

    def __init__(self, new_url: Callable[[], str]):
        super().__init__()
        # a fresh catalog per example (function-scoped fixtures do not reset between them)
        self.catalog = open_catalog(new_url())
        self.model: dict[str, dict] = {}
        self.clock = T0

    def _now(self):
        self.clock += timedelta(seconds=1)
        return self.clock

    @rule()
    def submit(self):
        rec, created = self.catalog.submit(_rebill(), now_utc=self._now())
        assert created
        self.model[rec.id] = {"state": "queued", "attempt": 0}

    def _apply(self, job_id, allowed_from, target, op):
        before = self.model[job_id]
        if before["state"] in allowed_from:
            rec = op()
            before["state"] = target(before["state"]) if callable(target) else target
            assert rec.state == before["state"]
        else:
            with pytest.raises(ConflictError):
                op()

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def start(self, data):
        job_id = data.draw(st.sampled_from(sorted(self.model)))
        m = self.model[job_id]
        attempt = m["attempt"] + 1
        self._apply(job_id, {"queued", "running", "cancelling"},
                    lambda s: "cancelling" if s == "cancelling" else "running",
                    lambda: self.catalog.mark_running(job_id, attempt=attempt, runner="r",
                                                      now_utc=self._now()))
        if m["state"] in ("running", "cancelling"):
            m["attempt"] = attempt

    @precondition(lambda self: self.model)
    @rule(data=st.data(), outcome=st.sampled_from(["succeeded", "failed", "cancelled"]))
    def finish(self, data, outcome):
        target = outcome
        job_id = data.draw(st.sampled_from(sorted(self.model)))
        allowed = {"succeeded": {"running", "cancelling"},
                   "failed": {"queued", "running", "cancelling"},
                   "cancelled": {"queued", "running", "cancelling"}}[target]
        op = {"succeeded": lambda: self.catalog.mark_succeeded(job_id, {}, self._now()),
              "failed": lambda: self.catalog.mark_failed(job_id, "e", "JobError", self._now()),
              "cancelled": lambda: self.catalog.mark_cancelled(job_id, self._now())}[target]
        self._apply(job_id, allowed, target, op)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def request_cancel(self, data):
        job_id = data.draw(st.sampled_from(sorted(self.model)))
        self._apply(job_id, {"queued", "running", "cancelling"},
                    lambda s: {"queued": "cancelled"}.get(s, "cancelling"),
                    lambda: self.catalog.request_cancel(job_id, self._now()))

    @invariant()
    def catalog_matches_model(self):
        counts = self.catalog.counts_by_state()
        for state in counts:
            assert counts[state] == sum(m["state"] == state for m in self.model.values())
        live = {r.id for r in self.catalog.nonterminal()}
        assert live == {j for j, m in self.model.items() if m["state"] not in TERMINAL_STATES}


def test_catalog_matches_the_model(new_catalog_url):
    run_state_machine_as_test(lambda: CatalogModel(new_catalog_url),
                              settings=settings(max_examples=40, stateful_step_count=25,
                                                deadline=None))


def test_racing_terminal_transitions_leave_one_outcome(catalog):
    for _round in range(5):
        rec, _ = catalog.submit(_rebill(), now_utc=T0)
        catalog.mark_running(rec.id, attempt=1, runner="r", now_utc=T0)
        ops = [lambda: catalog.mark_succeeded(rec.id, {"n": 1}, T0),
               lambda: catalog.mark_failed(rec.id, "x", "JobError", T0),
               lambda: catalog.mark_cancelled(rec.id, T0)]

        def go(i: int) -> str | None:                  # the state won, None on a conflict
            try:
                return ops[i % 3]().state
            except ConflictError:
                return None
        outcomes = race(go, 12)
        wins = [s for s in outcomes if s is not None]
        conflicts = [s for s in outcomes if s is None]
        assert len(wins) == 1 and len(conflicts) == 11
        assert catalog.get(rec.id).state == wins[0]
