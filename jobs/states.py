"""The job state machine: one vocabulary for the catalog, the executor, the API and the CLI.

::

    queued ──► running ──► succeeded | failed | cancelled
       │          │  ▲
       │          │  └── running (a new attempt after the runner died: reconcile)
       │          └──► cancelling ──► cancelled
       └──► cancelled | failed

Two documented extensions of the basic machine: ``cancelling -> succeeded | failed``
(a cancel that arrives while the result is being published is too late; the catalog
records what actually happened) and ``queued -> failed`` (the job could not even be
handed to a runner). Terminal states never change. Stdlib only: the CLI imports it
without loading anything heavy.
"""
from __future__ import annotations

from enum import StrEnum

__all__ = ["JobState", "TERMINAL_STATES", "ACTIVE_STATES", "TRANSITIONS"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})
#: target state -> the states it may be entered from
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.RUNNING: frozenset({JobState.QUEUED, JobState.RUNNING}),
    JobState.CANCELLING: frozenset({JobState.RUNNING}),
    JobState.SUCCEEDED: frozenset({JobState.RUNNING, JobState.CANCELLING}),
    JobState.FAILED: frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING}),
    JobState.CANCELLED: frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING}),
}
