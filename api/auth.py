"""API-key authentication and the role policy.

Every ``/v1`` request carries ``X-API-Key`` (an ``APIKeyHeader``, so it shows in the
OpenAPI ``securitySchemes``). A missing, malformed, unknown or revoked key is **401**
with ``WWW-Authenticate``; a valid key whose role may not do the thing is **403**.
Both are problem+json (see ``api.problems``).

Roles and what they may do (one table, :data:`POLICY`):

=========  ==========================  ===========  ========  ===============  ====
role       submit / cancel job kinds   sees jobs    invoices  interval detail  keys
=========  ==========================  ===========  ========  ===============  ====
scheduler  settlement                  settlement   no        no               no
analyst    settlement, rebill,         every kind   yes       yes              no
           meter_totals, scenario,
           shadow_settlement
investor   bankability                 bankability  summary   no               no
admin      every kind                  every kind   yes       yes              yes
=========  ==========================  ===========  ========  ===============  ====

(Contracts and sites endpoints, when added, are admin-only writes through the same
``RolePolicy.admin`` flag.)

Job visibility is by kind, not by submitting key: month-end settlement is idempotent
by its natural key, so the scheduler's second trigger must be able to read the job an
analyst (or another scheduler key) created first. A job a role may not see answers
404, not 403, so job ids do not leak across roles. OAuth2/JWT can later plug in through
the same ``Security`` seam (:func:`current_principal`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from .problems import ProblemError

API_KEY_HEADER = "X-API-Key"


class Role(StrEnum):
    SCHEDULER = "scheduler"
    ANALYST = "analyst"
    INVESTOR = "investor"
    ADMIN = "admin"




@dataclass(frozen=True)
class RolePolicy:
    submit_kinds: frozenset[str] | None  # kinds the role may submit and cancel; None: every kind
    read_kinds: frozenset[str] | None    # kinds of jobs the role may see; None: every kind
    invoices: bool                   # may read invoices (lines and totals)
    interval_detail: bool            # may read interval-level data (drill-down)
    admin: bool = False              # keys, contracts, sites


POLICY: dict[Role, RolePolicy] = {
    Role.SCHEDULER: RolePolicy(frozenset({"settlement"}), frozenset({"settlement"}),
                               invoices=False, interval_detail=False),
    Role.ANALYST: RolePolicy(frozenset({"settlement", "rebill", "meter_totals", "scenario",
                                        "shadow_settlement"}),
                             None,
                             invoices=True, interval_detail=True),
    Role.INVESTOR: RolePolicy(frozenset({"bankability"}), frozenset({"bankability"}),
                              invoices=True, interval_detail=False),
    Role.ADMIN: RolePolicy(None, None, invoices=True, interval_detail=True, admin=True),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the key's public id and its role."""

    key_id: str
    role: Role

    @property
    def policy(self) -> RolePolicy:
        return POLICY[self.role]

    def can_submit(self, kind: str) -> bool:
        kinds = self.policy.submit_kinds
        return kinds is None or kind in kinds

    def can_read(self, kind: str) -> bool:
        kinds = self.policy.read_kinds
        return kinds is None or kind in kinds


api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="API key created with `m2c keys create --role ROLE`.")

_CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}


def unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", detail, title="Unauthenticated", headers=_CHALLENGE)


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", detail, title="Forbidden")


async def current_principal(request: Request,
                            key: Annotated[str | None, Security(api_key_header)]) -> Principal:
    """Resolve ``X-API-Key`` against the key store (401 if absent or unknown).

    ``async`` on purpose: the lookup is a cache hit or one primary-key read on a
    per-thread SQLite connection (tens of microseconds), cheaper than a hop to the
    thread pool that a sync dependency costs on every request.
    """
    if not key:
        raise unauthenticated(f"send an API key in the {API_KEY_HEADER} header")
    found = request.app.state.ctx.keys.authenticate(key)
    if found is None:
        raise unauthenticated("the API key is unknown or revoked")
    return Principal(*found)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def require_invoices(principal: CurrentPrincipal) -> Principal:
    if not principal.policy.invoices:
        raise forbidden(f"role {principal.role.value!r} may not read invoices")
    return principal


async def require_any_job_access(principal: CurrentPrincipal) -> Principal:
    if principal.policy.read_kinds is not None and not principal.policy.read_kinds:
        raise forbidden(f"role {principal.role.value!r} may not use jobs")
    return principal


async def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.policy.admin:
        raise forbidden(f"role {principal.role.value!r} may not manage API keys")
    return principal
