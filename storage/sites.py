"""Site registry persistence: immutable, versioned documents in the object store.

Each save writes ``registry/sites/v<N>.json`` (the canonical document of
``engine.sites.sites_to_doc``) with a create-only put, N = latest + 1; the latest
version is the registry. Two concurrent saves cannot both create v<N>: the loser
re-reads, re-merges and retries, so no update is lost. Old versions stay readable
(``load_sites(store, version=N)``) for audit.
"""
from __future__ import annotations

import json
import logging
import re

from engine.errors import ConflictError, InputError, StorageError
from engine.ids import check_id
from engine.sites import Site, parse_sites, sites_to_doc

from .objectstore import ObjectStore

log = logging.getLogger(__name__)

PREFIX = "registry/sites/"
_VERSION_RE = re.compile(r"^registry/sites/v(\d+)\.json$")
_SAVE_ATTEMPTS = 20


def registry_versions(store: ObjectStore) -> list[int]:
    """All saved registry versions, ascending."""
    out = []
    for key in store.list(PREFIX):
        m = _VERSION_RE.match(key)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def load_sites(store: ObjectStore, version: int | None = None) -> dict[str, Site]:
    """The registry (latest version, or ``version``); empty dict if none was saved."""
    versions = registry_versions(store)
    if not versions:
        if version is not None:
            raise InputError(f"site registry version {version} does not exist (none saved)")
        return {}
    v = versions[-1] if version is None else version
    if v not in versions:
        raise InputError(f"site registry version {v} does not exist (versions "
                         f"{versions[0]}..{versions[-1]})")
    key = f"{PREFIX}v{v}.json"
    try:
        doc = json.loads(store.get(key))
    except ValueError as exc:
        raise StorageError(f"{key} is not valid JSON: {exc}") from exc
    return parse_sites(doc, key)


def save_sites(store: ObjectStore, sites: dict[str, Site]) -> int:
    """Save ``sites`` as the next registry version (the whole registry); returns N."""
    _check_ids(sites)
    body = json.dumps(sites_to_doc(sites), sort_keys=True, indent=1).encode()
    for _ in range(_SAVE_ATTEMPTS):
        versions = registry_versions(store)
        nxt = (versions[-1] + 1) if versions else 1
        if store.put_if_absent(f"{PREFIX}v{nxt}.json", body):
            log.info("saved site registry v%d (%d sites)", nxt, len(sites))
            return nxt
    raise ConflictError("could not save the site registry: too many concurrent writers")


def merge_sites(store: ObjectStore, incoming: dict[str, Site]) -> tuple[int, list[str], list[str]]:
    """Load a registry file's sites into the registry: sites with a new id are ADDED,
    sites whose id exists are REPLACED whole (channels included); others are kept.

    Returns ``(version, added_ids, replaced_ids)``. Retries on a concurrent save so a
    merge is never lost.
    """
    _check_ids(incoming)
    for _ in range(_SAVE_ATTEMPTS):
        versions = registry_versions(store)
        current = load_sites(store, versions[-1]) if versions else {}
        added = sorted(s for s in incoming if s not in current)
        replaced = sorted(s for s in incoming if s in current)
        merged = {**current, **incoming}
        nxt = (versions[-1] + 1) if versions else 1
        body = json.dumps(sites_to_doc(merged), sort_keys=True, indent=1).encode()
        if store.put_if_absent(f"{PREFIX}v{nxt}.json", body):
            return nxt, added, replaced
    raise ConflictError("could not save the site registry: too many concurrent writers")


def _check_ids(sites: dict[str, Site]) -> None:
    """A site id becomes a table partition (``site_id=<id>``): checked before any write."""
    for sid in sites:
        check_id(sid, field="site_id")


__all__ = ["load_sites", "save_sites", "merge_sites", "registry_versions"]
