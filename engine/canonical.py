"""The one canonical JSON encoding of meter2cash.

Every document whose bytes are stored, compared or hashed goes through
:func:`canonical_json`: invoices (``invoice.json``), contract versions and their
SHA-256, partition results and commit markers, job-spec fingerprints. The rules:

* keys sorted, separators ``(",", ":")`` (no whitespace);
* UTF-8, non-ASCII characters kept as they are (not ``\\uXXXX`` escaped);
* no ``NaN`` / ``Infinity`` (they are not JSON; money and energy are integers or
  decimal strings anyway): ``ValueError``;
* ``date`` and ``datetime`` values as ISO 8601 (``2026-10-01``,
  ``2026-10-01T05:00:00+00:00``); any other non-JSON type is a ``TypeError``.

So one document always has one byte string, whichever module writes it. A stored
*file* (an invoice, a contract version) ends with one newline (``newline=True``), as
text files do; a hashed fingerprint or an object body that is not a document file
does not.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

__all__ = ["canonical_json"]


def _iso(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable: {value!r}")


def canonical_json(doc: Any, *, newline: bool = False) -> bytes:
    """The canonical bytes of ``doc`` (see the module docstring)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_iso)
    return (text + "\n" if newline else text).encode("utf-8")
