"""Download links: a published part fetched straight from the object store.

A large part (an invoice's interval detail, later its PDF) need not pass through the
API process: on S3 the API hands out a short-lived presigned GET URL
(:meth:`ObjectStore.presigned_get`), and the client downloads from the object store.

The promise of :mod:`storage.publish` -- a part is served only if its bytes are the
ones its committed manifest recorded -- holds for links too, without reading the
object: every object is uploaded with its SHA-256 (``x-amz-checksum-sha256``, which
the server checks on arrival and keeps), and :func:`part_link` compares the digest
and size the server reports (HEAD) with the manifest's before signing. An object the
server holds no SHA-256 for (written before checksums, or multipart) gets no link:
the caller reads it verified (``verify_part``) and serves the bytes; a digest that
differs is an :class:`~engine.errors.IntegrityError`, as a read would be. On a local
folder there are no links: the caller serves the verified bytes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.errors import IntegrityError, NotFoundError

from .objectstore import ObjectStore

log = logging.getLogger(__name__)

#: how long a download link stays valid
LINK_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime
    sha256: str
    size: int


def part_link(store: ObjectStore, prefix: str, manifest: dict, name: str, *, now: datetime,
              ttl: timedelta = LINK_TTL, filename: str | None = None,
              content_type: str | None = None) -> Link | None:
    """A presigned link to part ``name`` of the committed ``manifest`` under ``prefix``,
    after checking the stored object against the manifest (see the module docstring);
    None when the store cannot vouch for the object without reading it (a local
    folder, an object without a recorded SHA-256): read and serve it instead."""
    entry = manifest.get("parts", {}).get(name)
    if entry is None:
        raise NotFoundError(f"{prefix} has no part {name!r}")
    if not store.is_s3:
        return None
    key = f"{prefix.rstrip('/')}/{name}"
    stat = store.stat(key)
    if stat.size != entry["size"] or (stat.sha256 is not None and stat.sha256 != entry["sha256"]):
        raise IntegrityError(f"{key} does not match its committed manifest (size {stat.size}, "
                             f"SHA-256 {stat.sha256}; recorded {entry['size']}, "
                             f"{entry['sha256']}): not served")
    if stat.sha256 is None:
        log.info("%s has no recorded SHA-256: served through the API, verified", key)
        return None
    url = store.presigned_get(key, expires_s=int(ttl.total_seconds()), filename=filename,
                              content_type=content_type)
    return Link(url, now + ttl, entry["sha256"], entry["size"])


__all__ = ["part_link", "Link", "LINK_TTL"]
