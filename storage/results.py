"""Immutable job results beside the invoices: what-if scenarios, bankability runs,
shadow settlements, carbon statements.

Layout::

    results/<kind>/<result_id>/manifest.json   lineage + each part's SHA-256 and size
    results/<kind>/<result_id>/<part>          e.g. summary.json, results.parquet, report.html
    results/<kind>/<result_id>/_COMMITTED      create-only commit marker

A result is published once, atomically (:mod:`storage.publish`: the create-only
manifest claims the prefix, then the parts, then the marker), and never rewritten;
``result_id`` is usually the id of the job that computed it. The manifest carries
the caller's ``meta`` (the lineage: data versions, contract hashes, document hash,
seed, code version) so a result records what it read. Every read checks the part
against the committed manifest: a tampered or half-written part is refused, never
served.
"""
from __future__ import annotations

import logging
import re

from engine.errors import InputError, NotFoundError, StorageError

from .objectstore import ObjectStore
from .publish import COMMITTED, publish, read_committed, verify_part

logger = logging.getLogger(__name__)

__all__ = ["ResultStore"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _check(what: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise InputError(f"{what} {value!r} is not a valid name ([A-Za-z0-9_.-], at most 128, "
                         "no '..')")
    return value


class ResultStore:
    """Published results of one kind of job, by result id."""

    def __init__(self, store: ObjectStore, kind: str):
        self.store = store
        self.kind = _check("result kind", kind)

    def prefix(self, result_id: str) -> str:
        return f"results/{self.kind}/{_check('result id', result_id)}"

    def publish(self, result_id: str, parts: dict[str, bytes], meta: dict) -> bool:
        """Publish ``parts`` with ``meta`` in the manifest; True if this call committed
        it, False if the same result was already there. A different result under the
        same id is a ``StorageError`` (results are immutable)."""
        for name in parts:
            _check("part name", name)
        prefix = self.prefix(result_id)
        committed = publish(self.store, prefix, parts, {**meta, "kind": self.kind,
                                                        "result_id": result_id})
        if not committed:
            manifest = read_committed(self.store, prefix)
            if manifest is None or any(verify_part(self.store, prefix, manifest, n) != b
                                       for n, b in parts.items()):
                raise StorageError(f"{prefix} is already claimed by a different result")
        return committed

    def manifest(self, result_id: str) -> dict:
        """The committed manifest (lineage and parts); ``NotFoundError`` if none."""
        manifest = read_committed(self.store, self.prefix(result_id))
        if manifest is None:
            raise NotFoundError(f"no {self.kind} result {result_id!r}")
        return manifest

    def part(self, result_id: str, name: str, manifest: dict | None = None) -> bytes:
        """One part's bytes, verified against the committed manifest."""
        manifest = manifest or self.manifest(result_id)
        if name not in manifest["parts"]:
            raise NotFoundError(f"{self.kind} result {result_id} has no part {name!r} "
                                f"(parts: {', '.join(sorted(manifest['parts']))})")
        return verify_part(self.store, self.prefix(result_id), manifest, name)

    def ids(self) -> list[str]:
        """Committed result ids, sorted."""
        root = f"results/{self.kind}/"
        return sorted(k[len(root):-len("/" + COMMITTED)] for k in self.store.list(root)
                      if k.endswith("/" + COMMITTED) and k.count("/") == 3)
