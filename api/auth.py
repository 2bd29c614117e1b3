"""API-key authentication and the role policy's enforcement (FastAPI dependencies).

Every ``/v1`` request carries ``X-API-Key`` (an ``APIKeyHeader``, so it shows in the
OpenAPI ``securitySchemes``). A missing, malformed, unknown or revoked key is **401**
with ``WWW-Authenticate``; a valid key whose role may not do the thing is **403**.
Both are problem+json (see ``api.problems``).

Roles and what they may do are one table, :data:`api.roles.POLICY` (documented
there); each ``require_*`` dependency below checks one of its columns.

Job visibility is by kind, not by submitting key: month-end settlement is idempotent
by its natural key, so the scheduler's second trigger must be able to read the job an
analyst (or another scheduler key) created first. A job a role may not see answers
404, not 403, so job ids do not leak across roles. OAuth2/JWT can later plug in through
the same ``Security`` seam (:func:`current_principal`).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from .problems import ProblemError
from .roles import API_KEY_ENV, API_KEY_HEADER, POLICY, Principal, Role, RolePolicy

__all__ = ["API_KEY_HEADER", "POLICY", "Principal", "Role", "RolePolicy", "CurrentPrincipal",
           "current_principal", "forbidden", "unauthenticated", "require_admin",
           "require_any_job_access", "require_approve", "require_data", "require_ingest",
           "require_interval_detail", "require_invoices"]


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
        raise unauthenticated(f"send an API key in the {API_KEY_HEADER} header (`m2c --api URL` "
                              f"sends the key in {API_KEY_ENV}; create one with "
                              "`m2c keys create --role ROLE`)")
    found = request.app.state.ctx.keys.authenticate(key)
    if found is None:
        raise unauthenticated("the API key is unknown or revoked")
    return Principal(*found)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _requires(flag: str, what: str):
    """A dependency: the caller's role must have ``POLICY[role].<flag>`` (else 403)."""
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not getattr(principal.policy, flag):
            raise forbidden(f"role {principal.role.value!r} may not {what}")
        return principal
    dependency.__name__ = f"require_{flag}"
    return dependency


require_invoices = _requires("invoices", "read invoices")
require_interval_detail = _requires("interval_detail", "read interval-level data")
require_approve = _requires("approve", "approve invoices")
require_data = _requires("data", "read contracts, sites or VEE reports")
require_ingest = _requires("ingest", "ingest data")
require_admin = _requires("admin", "do this (admin only: keys, contracts, sites)")


async def require_any_job_access(principal: CurrentPrincipal) -> Principal:
    if principal.policy.read_kinds is not None and not principal.policy.read_kinds:
        raise forbidden(f"role {principal.role.value!r} may not use jobs")
    return principal
