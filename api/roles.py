"""Roles of API keys and what each may do: one table, :data:`POLICY` (stdlib only).

Kept apart from :mod:`api.auth` (the FastAPI dependencies that enforce it) so the CLI
can name roles (``m2c keys create --role``) without importing the web framework.

=========  ==========================  ===========  ========  ========  =======  =====  ======  =====
role       submit / cancel job kinds   sees jobs    invoices  interval  approve  data   ingest  admin
                                                              detail
=========  ==========================  ===========  ========  ========  =======  =====  ======  =====
scheduler  settlement                  settlement   no        no        no       no     yes     no
analyst    settlement, rebill,         every kind   yes       yes       yes      yes    yes     no
           meter_totals, scenario,
           shadow_settlement,
           bankability
investor   bankability                 bankability  summary   no        no       no     no      no
admin      every kind                  every kind   yes       yes       yes      yes    yes     yes
=========  ==========================  ===========  ========  ========  =======  =====  ======  =====

* **invoices**: list and read invoices (lines and totals); **interval detail**: the
  interval rows behind a line (``explain``, ``?detail=intervals``).
* **approve**: approve an invoice version (the approval records the key id and role).
* **data**: read contracts, the site registry and VEE reports.
* **ingest**: upload meter, price and index files (the scheduler feeds month-end data).
* **admin**: API keys, and the writes that change what is billed: adding contract
  versions and loading the site registry.
* **ESG summaries** (``GET /v1/esg`` reports and factors, ``api.routes.esg``): every role;
  a site's granular certificates (per generator and hour) need **data**.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

API_KEY_HEADER = "X-API-Key"
#: the environment variable ``m2c --api URL`` reads the key from
API_KEY_ENV = "M2C_API_KEY"


class Role(StrEnum):
    SCHEDULER = "scheduler"
    ANALYST = "analyst"
    INVESTOR = "investor"
    ADMIN = "admin"


@dataclass(frozen=True)
class RolePolicy:
    submit_kinds: frozenset[str] | None  # kinds the role may submit and cancel; None: every kind
    read_kinds: frozenset[str] | None    # kinds of jobs the role may see; None: every kind
    invoices: bool                   # may list and read invoices (lines and totals)
    interval_detail: bool            # may read interval-level data (drill-down, explain)
    approve: bool = False            # may approve invoices
    data: bool = False               # may read contracts, sites and VEE reports
    ingest: bool = False             # may upload meter, price and index files
    admin: bool = False              # keys; adding contracts; loading sites


POLICY: dict[Role, RolePolicy] = {
    Role.SCHEDULER: RolePolicy(frozenset({"settlement"}), frozenset({"settlement"}),
                               invoices=False, interval_detail=False, ingest=True),
    Role.ANALYST: RolePolicy(frozenset({"settlement", "rebill", "meter_totals", "scenario",
                                        "shadow_settlement", "bankability"}),
                             None, invoices=True, interval_detail=True, approve=True, data=True,
                             ingest=True),
    Role.INVESTOR: RolePolicy(frozenset({"bankability"}), frozenset({"bankability"}),
                              invoices=True, interval_detail=False),
    Role.ADMIN: RolePolicy(None, None, invoices=True, interval_detail=True, approve=True,
                           data=True, ingest=True, admin=True),
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
