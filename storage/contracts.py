"""Contract versions in the object store: ``contracts/<contract_id>/v<N>.json``.

The contract id becomes part of the key, so it is checked against the id pattern of
the contract schema (``engine.ids``) before any key is built, whether a document is
added or an id is looked up: ``../..`` or a 100,000-character id is a
``ValidationError`` naming the field, never a path in the store.

Each version is written create-only (a version number can never be reused or
rewritten) as canonical JSON of the validated document. Amendments are new
versions with a later or equal ``effective_from``; ``engine.contract.check_amendments``
refuses a chain that goes back in time before anything is written.

Superseding. A version effective on the same date as the latest one supersedes
it (and any other version of that date) from that date: a correction, or a price
change from the term start. That rewrites what those versions billed, so it is
refused while an **approved** invoice of the contract was settled on one of them
(its ``contract_versions``); the error names those invoices. A version effective
from a later date never rewrites an approved invoice's contract terms: it changes
what a rebill of a later period computes, which the rebill's adjustment shows.
The check reads the invoice store when the amendment is added; an approval that
lands between the check and the write is not seen (the two stores share no lock).
"""
from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass

from engine.canonical import canonical_json
from engine.contract import ContractVersion, check_amendments, contract_sha256, parse_contract, superseded_by
from engine.errors import ConflictError, ContractError, NotFoundError
from engine.ids import check_id
from engine.sites import Site

from .objectstore import ObjectStore
from .publish import read_committed, verify_part

logger = logging.getLogger(__name__)

_VERSION_KEY = re.compile(r"^contracts/(?P<cid>[^/]+)/v(?P<v>\d+)\.json$")
_INVOICE_MARK = re.compile(r"^invoices/(?P<cid>[^/]+)/(?P<period>\d{4}-\d{2})/v(?P<v>\d+)/"
                           r"(?P<mark>_COMMITTED|_APPROVED)$")


def approved_invoices_on(store: ObjectStore, contract_id: str, versions: set[int]) -> list[str]:
    """The approved invoices of ``contract_id`` settled on any of the contract
    ``versions`` (their ``contract_versions``), as ``"<period> v<N>"``, sorted.

    One listing of the contract's invoices, then one read per approved version, each
    checked against its committed manifest (``storage.publish.verify_part``)."""
    check_id(contract_id, field="contract_id")
    marks: dict[tuple[str, int], set[str]] = {}
    for key in store.list(f"invoices/{contract_id}/"):
        m = _INVOICE_MARK.match(key)
        if m and m["cid"] == contract_id:
            marks.setdefault((m["period"], int(m["v"])), set()).add(m["mark"])
    out = []
    for (period, v), have in sorted(marks.items()):
        if have != {"_COMMITTED", "_APPROVED"}:
            continue
        prefix = f"invoices/{contract_id}/{period}/v{v}"
        manifest = read_committed(store, prefix)
        if manifest is None:
            continue
        doc = json.loads(verify_part(store, prefix, manifest, "invoice.json"))
        used = set(doc.get("contract_versions") or [doc.get("contract_version")])
        if used & versions:
            out.append(f"{period} v{v}")
    return out


@functools.lru_cache(maxsize=1024)
def _parse_stored(raw: bytes, source: str) -> ContractVersion:
    """A stored version's parsed terms, by its exact bytes: schema validation and
    parsing run once per process, not once per job (the model is immutable)."""
    return parse_contract(json.loads(raw), source=source)


@dataclass(frozen=True)
class StoredContract:
    version: ContractVersion
    document: dict
    sha256: str


class ContractStore:
    """Versioned contract documents; validation happens before any write."""

    def __init__(self, store: ObjectStore):
        self.store = store

    def contract_ids(self) -> list[str]:
        ids = set()
        for key in self.store.list("contracts/"):
            m = _VERSION_KEY.match(key)
            if m:
                ids.add(m["cid"])
        return sorted(ids)

    def _version_numbers(self, contract_id: str) -> list[int]:
        check_id(contract_id, field="contract_id")
        nums = []
        for key in self.store.list(f"contracts/{contract_id}/"):
            m = _VERSION_KEY.match(key)
            if m and m["cid"] == contract_id:
                nums.append(int(m["v"]))
        return sorted(nums)

    def versions(self, contract_id: str, *, up_to: int | None = None) -> list[StoredContract]:
        """All versions of a contract (optionally only those <= ``up_to``), oldest first."""
        out = []
        for n in self._version_numbers(contract_id):
            if up_to is not None and n > up_to:
                break
            raw = self.store.get(f"contracts/{contract_id}/v{n}.json")
            doc = json.loads(raw)
            out.append(StoredContract(_parse_stored(raw, f"{contract_id} v{n}"), doc,
                                      contract_sha256(doc)))
        if not out:
            raise NotFoundError(f"unknown contract {contract_id!r}")
        return out

    def add(self, doc: dict, *, sites: dict[str, Site], source: str = "contract") -> tuple[StoredContract, bool]:
        """Validate and store a contract document as its next version.

        ``version`` may be omitted (the next number is assigned) or given (it must
        be the next number). Re-adding a document identical to the latest version
        returns that version with ``created=False``.
        """
        from engine.contract import validate_contract_sites

        if not isinstance(doc, dict) or not doc.get("contract_id"):
            raise ContractError(f"{source}: field 'contract_id': required")
        cid = check_id(doc["contract_id"], field="contract_id", file=source)
        existing = self._version_numbers(cid)
        nxt = (existing[-1] + 1) if existing else 1
        if existing:
            latest = json.loads(self.store.get(f"contracts/{cid}/v{existing[-1]}.json"))
            candidate = {**doc, "version": latest["version"]}
            if contract_sha256(candidate) == contract_sha256(latest):
                return self.versions(cid)[-1], False
        given = doc.get("version")
        if given is not None and given != nxt:
            raise ContractError(f"{source}: field 'version': contract {cid} has versions "
                                f"{existing or 'none'}; the next version must be {nxt}, got {given}")
        doc = {**doc, "version": nxt}
        cv = parse_contract(doc, source=source)
        validate_contract_sites(cv, sites)
        previous = [s.version for s in self.versions(cid)] if existing else []
        check_amendments([*previous, cv])
        replaced = superseded_by(previous, cv)
        if replaced:
            nums = sorted(v.version for v in replaced)
            approved = approved_invoices_on(self.store, cid, set(nums))
            if approved:
                listed = ", ".join(f"v{n}" for n in nums)
                raise ConflictError(
                    f"{source}: contract {cid} v{nxt}: effective_from: {cv.effective_from} would supersede "
                    f"{listed} (effective the same date), but approved invoice(s) {', '.join(approved)} "
                    f"were settled on {'it' if len(nums) == 1 else 'them'}; an approved invoice's contract "
                    f"version cannot be replaced: amend from a later date instead")
            logger.info("contract %s v%d supersedes %s from %s", cid, nxt, nums, cv.effective_from)
        key = f"contracts/{cid}/v{nxt}.json"
        if not self.store.put_if_absent(key, canonical_json(doc, newline=True)):
            raise ConflictError(f"contract {cid} v{nxt} was added concurrently; retry")
        logger.info("stored contract %s v%d", cid, nxt)
        return StoredContract(cv, doc, contract_sha256(doc)), True
