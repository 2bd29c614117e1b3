"""Invoice numbers: sequential per issuer, unique, never reused (create-only claims).

Layout::

    issuers/<issuer_id>/numbers/<n, 12 digits>   create-only claim of number n
    issuers/<issuer_id>/next                     advisory: the lowest number maybe free

A number is taken by creating its claim object (``put_if_absent``): of two publishers
racing for the same number exactly one gets it, the other tries the next, so a number
is never given twice. The ``next`` object only saves listing every claim: a publisher
starts probing there (it may lag behind the claims, never run ahead of a free number:
it is written after a claim, with the number after it), so numbers are handed out
1, 2, 3, ... without gaps. A claim names the contract-period it was taken for; a
publisher that dies between the claim and its invoice's commit leaves that number
claimed and unused (a void number an audit lists with :meth:`InvoiceNumbers.claims`,
never reused), exactly as a claimed invoice version stays taken.
"""
from __future__ import annotations

import json
import re

from engine.errors import InputError

from .objectstore import ObjectStore

__all__ = ["InvoiceNumbers", "ISSUER_PATTERN"]

ISSUER_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
_WIDTH = 12


class InvoiceNumbers:
    """Number claims of every issuer in one object store."""

    def __init__(self, store: ObjectStore):
        self.store = store

    @staticmethod
    def _root(issuer: str) -> str:
        if not isinstance(issuer, str) or not ISSUER_PATTERN.match(issuer):
            raise InputError(f"invalid issuer id {issuer!r} (A-Z, 0-9 and '-', at most 32)")
        return f"issuers/{issuer}/"

    def _key(self, issuer: str, n: int) -> str:
        return f"{self._root(issuer)}numbers/{n:0{_WIDTH}d}"

    def _hint(self, issuer: str) -> int:
        raw = self.store.get_or_none(self._root(issuer) + "next")
        try:
            return max(1, int(raw or b"1"))
        except ValueError:
            return 1

    def claim(self, issuer: str, owners: list[dict]) -> list[int]:
        """Take the next ``len(owners)`` free numbers of ``issuer``, in order, each
        claim recording its owner (``{"contract_id", "period"}``); returns them."""
        out: list[int] = []
        n = self._hint(issuer)
        for owner in owners:
            body = (json.dumps(owner, sort_keys=True, separators=(",", ":")) + "\n").encode()
            while not self.store.put_if_absent(self._key(issuer, n), body):
                n += 1
            out.append(n)
            n += 1
        if out:
            self.store.put(self._root(issuer) + "next", str(n).encode())
        return out

    def claims(self, issuer: str) -> dict[int, dict]:
        """Every claimed number of ``issuer`` with its owner (an audit listing)."""
        prefix = f"{self._root(issuer)}numbers/"
        out = {}
        for key in self.store.list(prefix):
            tail = key[len(prefix):]
            if tail.isdigit():
                out[int(tail)] = json.loads(self.store.get(key))
        return out

    def issuers(self) -> list[str]:
        return sorted({k.split("/")[1] for k in self.store.list("issuers/") if k.count("/") >= 2})
