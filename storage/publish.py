"""Atomic publish of a set of objects under one prefix (settlement outputs, runs).

Protocol (engineering notes §3.5)::

    <prefix>/manifest.json     1. CREATE-ONLY manifest: caller's fields + "parts":
                                  {name: {sha256, size}}; it claims the prefix
    <prefix>/<part>            2. every part, side by side
    <prefix>/_COMMITTED        3. CREATE-ONLY marker holding the manifest's SHA-256

The marker is the commit point: readers trust only committed manifests
(:func:`read_committed` checks the marker against the manifest bytes;
:func:`verify_part` checks each part against the manifest) and never list prefixes.
The manifest is the claim: of writers racing on one prefix with different bytes
(two runs publishing the same invoice version), the one whose manifest lands writes
the parts and the marker; the others write nothing and get False, so a loser never
overwrites a part of the winner. A writer that finds its own manifest (identical
bytes: the same deterministic output again, or its own retry after a crash) goes on
and completes the prefix. A writer that dies after its manifest leaves the prefix
claimed and uncommitted: invisible, never reused (``InvoiceStore`` numbers versions
past it).
"""
from __future__ import annotations

import hashlib
import json
import logging

from engine.errors import IntegrityError, StorageError

from .objectstore import ObjectStore

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
COMMITTED = "_COMMITTED"


def _key(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}"


def publish(store: ObjectStore, prefix: str, parts: dict[str, bytes], manifest: dict) -> bool:
    """Claim ``prefix`` with ``manifest.json``, write ``parts``, then the
    ``_COMMITTED`` marker (see the module docstring).

    Returns True if this call committed the prefix, False if it was already committed
    or claimed by another writer (nothing is written then). ``manifest`` must be
    JSON-serialisable; its ``parts`` entry is filled in here.
    """
    return publish_many(store, [(prefix, parts, manifest)])[0]


def manifest_body(parts: dict[str, bytes], manifest: dict) -> bytes:
    """The manifest's bytes: ``manifest`` + each part's SHA-256 and size."""
    doc = {**manifest, "parts": {name: {"sha256": hashlib.sha256(data).hexdigest(),
                                        "size": len(data)}
                                 for name, data in sorted(parts.items())}}
    return json.dumps(doc, sort_keys=True, indent=1).encode()


def publish_many(store: ObjectStore, entries: list[tuple[str, dict[str, bytes], dict]]
                 ) -> list[bool]:
    """:func:`publish` of several prefixes in three rounds of writes for all of them,
    each round side by side: every manifest (the claims), every claimed prefix's parts,
    their markers. Each prefix is committed by its own marker: a failure part-way
    leaves some prefixes committed and the others invisible. One flag per entry, as
    :func:`publish` returns it (a committed prefix's manifest exists, so it needs no
    check of its own: its claim fails, or is ours and its marker then exists)."""
    prefixes = [prefix for prefix, _, _ in entries]
    if len(set(prefixes)) != len(prefixes):
        raise StorageError("publish_many: a prefix appears twice in one batch")
    for _, parts, _ in entries:
        for reserved in (MANIFEST, COMMITTED):
            if reserved in parts:
                raise StorageError(f"part name {reserved!r} is reserved")
    bodies = {prefix: manifest_body(parts, manifest) for prefix, parts, manifest in entries}
    created = store.put_if_absent_many({_key(p, MANIFEST): body for p, body in bodies.items()})
    claimed = [(prefix, parts) for prefix, parts, _ in entries
               if created[_key(prefix, MANIFEST)]
               or store.get(_key(prefix, MANIFEST)) == bodies[prefix]]     # ours, again
    store.put_many({_key(prefix, name): data for prefix, parts in claimed
                    for name, data in parts.items()})
    won = store.put_if_absent_many({_key(prefix, COMMITTED):
                                    hashlib.sha256(bodies[prefix]).hexdigest().encode()
                                    for prefix, _ in claimed})
    for prefix, _ in claimed:
        log.info("publish %s: %s", prefix,
                 "committed" if won[_key(prefix, COMMITTED)] else "already committed")
    return [won.get(_key(prefix, COMMITTED), False) for prefix in prefixes]


def read_committed(store: ObjectStore, prefix: str) -> dict | None:
    """The committed manifest of ``prefix``, or None if it is not committed.

    Raises ``StorageError`` if the marker does not match the manifest (a manifest
    overwritten after the commit): committed data is never silently replaced.
    """
    marker = store.get_or_none(_key(prefix, COMMITTED))
    if marker is None:
        return None
    body = store.get(_key(prefix, MANIFEST))
    if hashlib.sha256(body).hexdigest() != marker.decode(errors="replace").strip():
        raise IntegrityError(f"{_key(prefix, MANIFEST)}: does not match its {COMMITTED} marker "
                             "(modified after the commit); refusing to read it")
    return json.loads(body)


def verify_part(store: ObjectStore, prefix: str, manifest: dict, name: str) -> bytes:
    """Read one part of a committed manifest, checking its size and SHA-256.

    Raises ``IntegrityError`` (a ``StorageError``) naming the object's key when the
    bytes differ from what the manifest recorded: a tampered or corrupted part is
    refused, never returned."""
    key = _key(prefix, name)
    entry = (manifest.get("parts") or {}).get(name)
    if entry is None:
        raise IntegrityError(f"{key}: not listed in the committed manifest; refusing to read it")
    data = store.get(key)
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != entry["size"] or digest != entry["sha256"]:
        raise IntegrityError(
            f"{key}: content does not match the committed manifest ({len(data)} bytes, "
            f"sha256 {digest[:12]}..., expected {entry['size']} bytes, sha256 "
            f"{entry['sha256'][:12]}...): the object was modified after publication; "
            "refusing to read it")
    return data


__all__ = ["publish", "publish_many", "read_committed", "verify_part", "MANIFEST", "COMMITTED"]
