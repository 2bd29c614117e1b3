"""Granular certificates in the object store: a serial log of create-only entries.

Layout (under the storage root)::

    certificates/log/<seq, 12 digits>.json     create-only; seq 1, 2, 3, ... without gaps

Every state transition is one entry: ``issue`` (a site-period's certificates, one per
carbon-free generator and UTC hour, ``engine.carbon.certificates``), ``transfer`` (to
another account) and ``cancel`` (claimed for a beneficiary, terminal). A writer replays the
log to its last entry, validates its action against that state (the certificate exists,
the account holds it, it is not cancelled; an issue is not a different re-issue), then
claims the next sequence number with a **create-only** put
(``ObjectStore.put_if_absent``: exactly one concurrent caller wins, locally by a hard link,
on S3 by ``If-None-Match: *``). The loser reads the entry that won, validates again
against the new state and retries at the next number, or is refused if that entry made
its action invalid. So the log is serializable (the discipline of Delta's commit files):
**a certificate is cancelled once and only once**, and no concurrent action is lost
(tested with threads released together, on a local folder and on S3).

The registry's version is a sequence number: the state as of entry ``n`` is the replay of
entries 1..n, the same forever. A settlement pins it (``DataVersions.certificates``) with
the other inputs, so the market-based Scope 2 and the CFE score of an invoice reproduce.

Accounts and beneficiaries are ids (``engine.ids``). A site's certificates are issued into
the account named like the site. Cancelling for a beneficiary that is a traced site of
another balancing authority is refused by the caller (market boundary, GHG Protocol Scope 2
quality criteria: ``beneficiary_ba``).
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engine.canonical import canonical_json
from engine.carbon.certificates import energytag_bundle
from engine.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from engine.ids import check_id
from engine.timebase import to_us

from .objectstore import ObjectStore

logger = logging.getLogger(__name__)

PREFIX = "certificates/log/"
#: attempts to claim a sequence number before giving up (each loss means another writer won)
MAX_ATTEMPTS = 10_000


def _key(seq: int) -> str:
    return f"{PREFIX}{seq:012d}.json"


@dataclass
class Certificate:
    attrs: dict                       # as issued (immutable)
    owner: str
    state: str                        # issued, transferred, cancelled
    range_start: int                  # first of its face_wh ids, numbered per device
    beneficiary: str | None = None
    history: list[tuple[int, str]] = field(default_factory=list)

    @property
    def hour_us(self) -> int:
        return to_us(datetime.fromisoformat(self.attrs["hour_utc"].replace("Z", "+00:00")))


@dataclass
class RegistryState:
    """The registry as of entry ``seq`` (0: empty)."""
    seq: int = 0
    certificates: dict[str, Certificate] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)          # device -> next range id
    carry_uwh: dict[str, int] = field(default_factory=dict)        # device -> remainder carried
    issued: dict[tuple[str, str], int] = field(default_factory=dict)   # (site, period) -> seq

    def get(self, cid: str) -> Certificate:
        try:
            return self.certificates[cid]
        except KeyError:
            raise NotFoundError(f"no certificate {cid!r}") from None

    def apply(self, seq: int, e: dict) -> None:
        if seq != self.seq + 1:
            raise IntegrityError(f"certificate log: entry {seq} after {self.seq}")
        action = e["action"]
        if action == "issue":
            for c in e["certificates"]:
                device = f"{c['site_id']}/{c['channel']}"
                start = self.next_id.get(device, 1)
                self.next_id[device] = start + c["face_wh"]
                self.certificates[c["certificate_id"]] = Certificate(dict(c), e["account"], "issued", start,
                                                                     history=[(seq, "issued")])
            self.carry_uwh.update(e.get("carry_uwh", {}))
            self.issued[(e["site_id"], e["period"])] = seq
        elif action == "transfer":
            for cid in e["ids"]:
                c = self.certificates[cid]
                c.owner, c.state = e["to"], "transferred"
                c.history.append((seq, f"transferred {e['from']} -> {e['to']}"))
        elif action == "cancel":
            for cid in e["ids"]:
                c = self.certificates[cid]
                c.state, c.beneficiary = "cancelled", e["beneficiary"]
                c.history.append((seq, f"cancelled by {e['by']} for {e['beneficiary']}"))
        else:
            raise IntegrityError(f"certificate log entry {seq}: unknown action {action!r}")
        self.seq = seq


class CertificateRegistry:
    """The certificate log of one object store (cheap to build; entries are cached)."""

    def __init__(self, store: ObjectStore):
        self.store = store
        self._entries: list[dict] = []
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------
    def _refresh(self) -> None:
        keys = [k for k in self.store.list(PREFIX) if k.endswith(".json")]
        with self._lock:
            have = len(self._entries)
            for i, k in enumerate(keys[have:], start=have + 1):
                if k != _key(i):
                    raise IntegrityError(f"certificate log: expected {_key(i)}, found {k} (a gap)")
                self._entries.append(json.loads(self.store.get(k)))

    def version(self) -> int | None:
        """The latest sequence number (None: nothing ever written)."""
        self._refresh()
        return len(self._entries) or None

    def state(self, as_of: int | None = None) -> RegistryState:
        """The registry as of entry ``as_of`` (None: the latest)."""
        self._refresh()
        n = len(self._entries) if as_of is None else as_of
        if n > len(self._entries) or n < 0:
            raise NotFoundError(f"certificate registry version {as_of} does not exist "
                                f"(latest: {len(self._entries) or 'none'})")
        st = RegistryState()
        for seq, e in enumerate(self._entries[:n], start=1):
            st.apply(seq, e)
        return st

    # -- writing -------------------------------------------------------------------------
    def _append(self, build: Callable[[RegistryState], dict | None]) -> tuple[int, bool]:
        """Claim the next sequence number for ``build(state)``'s entry (validated against
        the latest state; re-validated after every lost race). ``build`` returning None:
        nothing to write (e.g. the same issue again): (the state's seq, False)."""
        for _ in range(MAX_ATTEMPTS):
            st = self.state()
            entry = build(st)
            if entry is None:
                return st.seq, False
            if self.store.put_if_absent(_key(st.seq + 1), canonical_json(entry, newline=True)):
                return st.seq + 1, True
            logger.debug("certificate log: lost the race for entry %d; validating again", st.seq + 1)
        raise ConflictError("certificate log: too many concurrent writers; try again")

    def issue(self, *, site_id: str, period: str, account: str, certificates: list[dict],
              carry_uwh: dict[str, int], data_versions: dict, at_utc: datetime) -> tuple[int, bool]:
        """Issue a site-period's certificates (``engine.carbon.certificates``). The same
        certificates again write nothing (idempotent); different ones are refused: issued
        certificates are never re-issued (registries withdraw and re-issue instead, which
        meter2cash does not do)."""
        check_id(account, field="account")
        ids = [c["certificate_id"] for c in certificates]
        if len(set(ids)) != len(ids):
            raise ValidationError("the same certificate twice in one issue", field="certificates")

        def build(st: RegistryState) -> dict | None:
            if (site_id, period) in st.issued:
                before = {cid: c.attrs for cid, c in st.certificates.items()
                          if c.attrs["site_id"] == site_id and c.history[0][0] == st.issued[(site_id, period)]}
                now = {c["certificate_id"]: c for c in certificates}
                if before == now:
                    return None
                diff = sorted(set(before) ^ set(now)) or sorted(k for k in now if before[k] != now[k])
                raise ConflictError(f"certificates of {site_id} {period} were issued at registry version "
                                    f"{st.issued[(site_id, period)]} and differ now (first: {diff[0]}); "
                                    "issued certificates are not re-issued")
            taken = [cid for cid in ids if cid in st.certificates]
            if taken:
                raise ConflictError(f"certificate {taken[0]} is already issued")
            return {"action": "issue", "site_id": site_id, "period": period, "account": account,
                    "certificates": certificates, "carry_uwh": carry_uwh, "data_versions": data_versions,
                    "at_utc": at_utc.isoformat()}
        return self._append(build)

    def transfer(self, ids: Iterable[str], *, from_account: str, to_account: str, at_utc: datetime) -> int:
        """Move whole certificates held by ``from_account`` to ``to_account``."""
        ids = sorted(set(ids))
        check_id(from_account, field="from")
        check_id(to_account, field="to")
        if not ids:
            raise ValidationError("no certificate ids given", field="ids")

        def build(st: RegistryState) -> dict:
            for cid in ids:
                c = st.get(cid)
                if c.state == "cancelled":
                    raise ConflictError(f"certificate {cid} is cancelled (for {c.beneficiary}); it cannot move")
                if c.owner != from_account:
                    raise ConflictError(f"certificate {cid} is held by {c.owner}, not {from_account}")
            return {"action": "transfer", "ids": ids, "from": from_account, "to": to_account,
                    "at_utc": at_utc.isoformat()}
        return self._append(build)[0]

    def cancel(self, ids: Iterable[str], *, account: str, beneficiary: str, at_utc: datetime,
               beneficiary_ba: str | None = None) -> int:
        """Cancel (claim) certificates held by ``account`` for ``beneficiary``: once and
        only once. ``beneficiary_ba``: the beneficiary site's balancing authority, when it
        is a traced site (a certificate of another grid is refused: market boundary)."""
        ids = sorted(set(ids))
        check_id(account, field="account")
        check_id(beneficiary, field="beneficiary")
        if not ids:
            raise ValidationError("no certificate ids given", field="ids")

        def build(st: RegistryState) -> dict:
            for cid in ids:
                c = st.get(cid)
                if c.state == "cancelled":
                    seq = next(s for s, what in c.history if what.startswith("cancelled"))
                    raise ConflictError(f"certificate {cid} was already cancelled (registry version {seq}, "
                                        f"for {c.beneficiary}); a certificate is claimed once")
                if c.owner != account:
                    raise ConflictError(f"certificate {cid} is held by {c.owner}, not {account}")
                if beneficiary_ba is not None and c.attrs["balancing_authority"] != beneficiary_ba:
                    raise ValidationError(f"certificate {cid} comes from {c.attrs['balancing_authority']}; "
                                          f"{beneficiary} is in {beneficiary_ba} (market boundary)",
                                          field="beneficiary")
            return {"action": "cancel", "ids": ids, "by": account, "beneficiary": beneficiary,
                    "at_utc": at_utc.isoformat()}
        return self._append(build)[0]

    # -- queries -------------------------------------------------------------------------
    @staticmethod
    def claims(st: RegistryState, beneficiary: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        """(production hour, Wh) of certificates cancelled for ``beneficiary`` with production
        in ``[start_us, end_us)``, except the beneficiary's own (already on-site energy)."""
        return sorted((c.hour_us, c.attrs["face_wh"]) for c in st.certificates.values()
                      if c.state == "cancelled" and c.beneficiary == beneficiary
                      and c.attrs["site_id"] != beneficiary and start_us <= c.hour_us < end_us)

    @staticmethod
    def sold(st: RegistryState, site_id: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        """(production hour, Wh) of ``site_id``'s own certificates it no longer holds for
        itself: transferred out, or cancelled for another beneficiary."""
        return sorted((c.hour_us, c.attrs["face_wh"]) for c in st.certificates.values()
                      if c.attrs["site_id"] == site_id and start_us <= c.hour_us < end_us
                      and ((c.state == "cancelled" and c.beneficiary != site_id)
                           or (c.state != "cancelled" and c.owner != site_id)))

    @staticmethod
    def export(st: RegistryState, *, site_id: str | None = None, account: str | None = None) -> dict:
        """EnergyTag GC Registry API v2 shape: ``{"granular_certificate_bundles": [...],
        "total_certificate_volume": Wh}`` (``engine.carbon.certificates.energytag_bundle``)."""
        bundles = [energytag_bundle(c.attrs, state=c.state, account=c.owner, beneficiary=c.beneficiary,
                                    range_start=c.range_start)
                   for cid, c in sorted(st.certificates.items())
                   if (site_id is None or c.attrs["site_id"] == site_id) and (account is None or c.owner == account)]
        return {"granular_certificate_bundles": bundles,
                "total_certificate_volume": sum(b["bundle_quantity"] for b in bundles),
                "registry_version": st.seq}


__all__ = ["CertificateRegistry", "RegistryState", "Certificate", "PREFIX"]
