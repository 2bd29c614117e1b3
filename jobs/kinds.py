"""The job kinds, in one table: what ``POST /v1/jobs``, the CLI and the executor can run.

=================  ==========================================================  ==========
kind               what it does                                                module
=================  ==========================================================  ==========
settlement         month-end settlement of the contracts active in a period    jobs.settle
rebill             re-settle past periods; adjustments against approved bills  jobs.rebill
meter_totals       audit: exact energy per site, channel and month             jobs.meter_totals
probe              synthetic job for benchmarks and fault-injection tests      jobs.probe
shadow_settlement  ISO shadow settlement, resource x operating day            jobs.shadow
scenario           what-if variants of a base, re-settled by the billing engine jobs.scenario
bankability        cash flows, DSCR, IRR and LCOE over stochastic paths        jobs.bankability
=================  ==========================================================  ==========

Every kind but ``probe`` is also in the public spec union (:data:`jobs.specs.JobSpec`);
``probe`` is not offered to users. Adding a kind: a spec model in ``jobs/specs.py``
(and the union), a module with ``plan``/``run_partition``/``reduce`` and its
``KIND = JobKind(...)``, one row here; the role policy says who
may submit it (`api/roles.py`).
"""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel

from engine.errors import JobError

from . import bankability, meter_totals, probe, rebill, scenario, settle, shadow
from .specs import JOB_KINDS, parse_spec
from .tasks import JobKind

__all__ = ["KINDS", "get_kind", "parse_job_spec"]

KINDS: Mapping[str, JobKind] = {k.name: k for k in (
    settle.KIND, rebill.KIND, meter_totals.KIND, probe.KIND, shadow.KIND, scenario.KIND,
    bankability.KIND)}


def get_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise JobError(f"no runner for job kind {name!r}; known: {sorted(KINDS)}") from None


def parse_job_spec(obj: Mapping[str, Any] | BaseModel) -> BaseModel:
    """Parse a stored spec with its kind's model: the public union (with its field
    errors) for public kinds, the kind's own model for the others (``probe``)."""
    if isinstance(obj, BaseModel):
        return obj
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    if kind in KINDS and kind not in JOB_KINDS:
        return KINDS[kind].spec_type.model_validate(dict(obj))
    return parse_spec(dict(obj))
