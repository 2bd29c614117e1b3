"""``ObjectStore``: the one door to the storage root, local folder or S3.

Two backends behind one interface, chosen by the URI of a :class:`StorageConfig`:

* ``file:///abs/path`` -- a local folder (the embedded default). ``put`` writes a
  temporary file next to the target and ``os.replace``-s it, so readers see the old
  or the new object, never a torn one. ``put_if_absent`` hard-links a fully written
  temporary file to the target name (``os.link`` fails if the name exists), which is
  atomic on POSIX file systems.
* ``s3://bucket/prefix`` -- any S3-compatible server (AWS, SeaweedFS, MinIO). Two
  clients, each for what it does well: **boto3** for every read and write of objects
  (:attr:`ObjectStore.s3`), because it can send ``If-None-Match: *`` (minio-py
  cannot); **minio-py** (:attr:`ObjectStore.minio`) for what stands beside the data
  path: download links signed offline (:meth:`presigned_get`, always SigV4) and the
  bucket's creation and lifecycle rules (:mod:`storage.bucket`). Both are built from
  the one :class:`StorageConfig` (endpoint, credentials, region).
  ``put_if_absent`` answers False on 412 PreconditionFailed and retries on 409
  ConditionalRequestConflict, as AWS documents. Every object is written with its
  SHA-256 (``x-amz-checksum-sha256``): the server refuses bytes that arrive
  different (BadDigest), and :meth:`stat` reads the digest back without reading the
  object, so a download link is only handed out for an object whose bytes are the
  ones a manifest recorded (:mod:`storage.links`).

Keys are ``/``-separated paths relative to the root (``registry/sites/v1.json``);
``..`` segments and absolute keys are refused. The store holds no state beyond its
config and lazily built clients, so it pickles as its config and Ray workers rebuild
it cheaply (``ObjectStore.from_config(cfg)``).

For bulk data the store also hands out a ``pyarrow.fs`` file system
(:meth:`arrow_filesystem`) and the Delta Lake URI and storage options
(:meth:`delta_table_uri`, :meth:`delta_storage_options`); Delta commits on S3 rely on
conditional puts (``conditional_put: etag``), so no external lock is needed.
"""
from __future__ import annotations

import base64
import builtins
import functools
import hashlib
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlparse

from engine.errors import NotFoundError, StorageError

from .config import StorageConfig
from .errors import (S3_CONDITIONAL_CONFLICT, S3_PRECONDITION_FAILED, s3_error_code,
                     storage_errors)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs

log = logging.getLogger(__name__)

_TMP_SUFFIX = ".m2c-tmp"
_CONFLICT_RETRIES = 8
#: threads writing the objects of ``put_many`` / ``put_if_absent_many`` (shared by
#: every store of the process). A local put is a write + fsync, an S3 put a round
#: trip: both wait without the GIL, so independent objects are written side by side.
_PUT_THREADS = 8
_put_pool: ThreadPoolExecutor | None = None
_put_pool_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _s3_client(endpoint: str | None, access_key: str | None, secret_key: str | None,
               region: str | None) -> Any:
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, region_name=region,
        config=Config(retries={"max_attempts": 5, "mode": "standard"},
                      s3={"addressing_style": "path"} if endpoint else None,
                      max_pool_connections=32))


@functools.lru_cache(maxsize=16)
def _minio_client(endpoint: str | None, access_key: str | None, secret_key: str | None,
                  region: str | None) -> Any:
    """A minio-py client for ``endpoint`` (``http(s)://host:port``; None: AWS). The region
    is given, so signing a URL sends no request (minio-py would otherwise ask the
    server for the bucket's location first)."""
    from minio import Minio
    parsed = urlparse(endpoint) if endpoint else None
    host = parsed.netloc if parsed else "s3.amazonaws.com"
    secure = parsed.scheme != "http" if parsed else True
    if parsed and parsed.path not in ("", "/"):
        raise StorageError(f"S3 endpoint {endpoint!r}: a path after host:port is not supported")
    return Minio(host, access_key=access_key, secret_key=secret_key, secure=secure,
                 region=region or "us-east-1")


@dataclass(frozen=True)
class ObjectStat:
    """What the store knows of an object without reading it."""
    size: int
    #: hex SHA-256 of the bytes, as the server recorded it at upload (None: not known,
    #: e.g. written before checksums, by multipart, or on a local folder)
    sha256: str | None


def _checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _writer_pool() -> ThreadPoolExecutor:
    global _put_pool
    with _put_pool_lock:
        if _put_pool is None:
            _put_pool = ThreadPoolExecutor(_PUT_THREADS, thread_name_prefix="m2c-put")
        return _put_pool


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or key.endswith("/"):
        raise StorageError(f"invalid object key {key!r}: must be a relative path to an object")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"invalid object key {key!r}: empty, '.' or '..' segment")
    return key


def _check_prefix(prefix: str) -> str:
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise StorageError(f"invalid key prefix {prefix!r}")
    return prefix


class ObjectStore:
    """Objects under one storage root (see the module docstring for the semantics).

    Build it with :meth:`from_config`; it is safe to share between threads.
    """

    def __init__(self, config: StorageConfig):
        self.config = config
        parsed = urlparse(config.uri)
        if parsed.scheme == "file":
            self.backend = "file"
            path = parsed.path
            if parsed.netloc not in ("", "localhost") or not path or not os.path.isabs(path):
                raise StorageError(f"file storage URI must be absolute: {config.uri!r}")
            self.root: Path | None = Path(path).resolve()
            self.bucket, self.prefix = "", ""
        elif parsed.scheme == "s3":
            self.backend = "s3"
            if not parsed.netloc:
                raise StorageError(f"S3 storage URI needs a bucket: {config.uri!r}")
            self.bucket = parsed.netloc
            self.prefix = parsed.path.strip("/")
            self.root = None
        else:
            raise StorageError(f"unsupported storage URI {config.uri!r}: use file:///abs/path "
                               "or s3://bucket/prefix")
        self._client: Any = None

    # -- construction / pickling ------------------------------------------------------

    @classmethod
    def from_config(cls, cfg: StorageConfig) -> "ObjectStore":
        return cls(cfg)

    def __getstate__(self) -> dict:
        return {"config": self.config}

    def __setstate__(self, state: dict) -> None:
        ObjectStore.__init__(self, state["config"])

    def __repr__(self) -> str:
        return f"ObjectStore({self.config.uri!r})"

    @property
    def is_s3(self) -> bool:
        return self.backend == "s3"

    # -- helpers ----------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / _check_key(key)

    def _s3_key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def s3(self) -> Any:
        """The boto3 S3 client, shared by every store of this process with the same
        endpoint and credentials (boto3 clients are thread-safe; building one loads
        botocore's service model: tens of ms of CPU, once per job before this)."""
        if self._client is None:
            self._client = _s3_client(self.config.endpoint, self.config.access_key,
                                      self.config.secret_key, self.config.region)
        return self._client

    @property
    def minio(self) -> Any:
        """The minio-py client of this store's endpoint (bucket provisioning and
        lifecycle: :mod:`storage.bucket`); S3 only."""
        if self.backend != "s3":
            raise StorageError("a local folder has no bucket")
        cfg = self.config
        return _minio_client(cfg.endpoint, cfg.access_key, cfg.secret_key, cfg.region)

    def _tmp_path(self, target: Path) -> Path:
        return target.with_name(f".{target.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")

    def _write_tmp(self, target: Path, data: bytes) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_path(target)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    # -- object operations ------------------------------------------------------------

    def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` if it does not exist."""
        with storage_errors("get", key):
            if self.backend == "file":
                return self._path(key).read_bytes()
            return self.s3.get_object(Bucket=self.bucket, Key=self._s3_key(key))["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        """Create or replace an object atomically (readers never see a partial object)."""
        with storage_errors("put", key):
            if self.backend == "file":
                target = self._path(key)
                tmp = self._write_tmp(target, data)
                try:
                    os.replace(tmp, target)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
                return
            self.s3.put_object(Bucket=self.bucket, Key=self._s3_key(key), Body=data,
                               ChecksumSHA256=_checksum(data))

    def put_many(self, objects: dict[str, bytes]) -> None:
        """``put`` each object, concurrently; returns when all are written. Each object
        is atomic on its own, not the set: a caller that needs the set to appear at
        once commits it afterwards (:func:`storage.publish.publish`). The first
        failure is raised after every write has ended."""
        self._each(self.put, objects)

    def put_if_absent_many(self, objects: dict[str, bytes]) -> dict[str, bool]:
        """``put_if_absent`` each object, concurrently: key -> whether this call
        created it. Raises like :meth:`put_many`."""
        return self._each(self.put_if_absent, objects)

    @staticmethod
    def _each(write: Callable[[str, bytes], Any], objects: dict[str, bytes]) -> dict[str, Any]:
        if len(objects) <= 1:
            return {key: write(key, data) for key, data in objects.items()}
        pool = _writer_pool()
        futures = {key: pool.submit(write, key, data) for key, data in sorted(objects.items())}
        for f in futures.values():     # wait for all, so none is still writing after a raise
            f.exception()
        return {key: f.result() for key, f in futures.items()}

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create-only write: True if this call created the object, False if it existed.

        Exactly one of any number of concurrent callers for the same key gets True;
        the object's content is then that caller's ``data``, complete.
        """
        with storage_errors("put_if_absent", key):
            if self.backend == "file":
                target = self._path(key)
                tmp = self._write_tmp(target, data)
                try:
                    os.link(tmp, target)
                    return True
                except FileExistsError:
                    return False
                finally:
                    tmp.unlink(missing_ok=True)
            from botocore.exceptions import ClientError
            s3_key = self._s3_key(key)
            digest = _checksum(data)
            for attempt in range(_CONFLICT_RETRIES):
                try:
                    self.s3.put_object(Bucket=self.bucket, Key=s3_key, Body=data, IfNoneMatch="*",
                                       ChecksumSHA256=digest)
                    return True
                except ClientError as exc:
                    code = s3_error_code(exc)
                    if code in S3_PRECONDITION_FAILED:
                        return False
                    if code in S3_CONDITIONAL_CONFLICT and attempt + 1 < _CONFLICT_RETRIES:
                        time.sleep(0.02 * 2 ** attempt)
                        continue
                    raise
            raise StorageError(f"put_if_absent {key!r}: conditional write kept conflicting")

    def exists(self, key: str) -> bool:
        with storage_errors("exists", key):
            if self.backend == "file":
                return self._path(key).is_file()
            from botocore.exceptions import ClientError
            try:
                self.s3.head_object(Bucket=self.bucket, Key=self._s3_key(key))
                return True
            except ClientError as exc:
                if s3_error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

    def stat(self, key: str) -> ObjectStat:
        """Size and (S3) recorded SHA-256 of an object; ``NotFoundError`` if missing."""
        with storage_errors("stat", key):
            if self.backend == "file":
                return ObjectStat(self._path(key).stat().st_size, None)
            head = self.s3.head_object(Bucket=self.bucket, Key=self._s3_key(key),
                                       ChecksumMode="ENABLED")
            digest = head.get("ChecksumSHA256")
            sha = (base64.b64decode(digest).hex()
                   if digest and "-" not in digest else None)   # "-N": a multipart composite
            return ObjectStat(int(head["ContentLength"]), sha)

    def presigned_get(self, key: str, *, expires_s: int, filename: str | None = None,
                      content_type: str | None = None) -> str:
        """A URL from which anyone holding it can GET the object for ``expires_s``
        seconds, straight from the object store (S3 only). Signed offline (SigV4) by
        minio-py for ``StorageConfig.public_endpoint`` when set (the host clients
        reach), else the endpoint this process uses. ``filename``/``content_type`` set
        the response's Content-Disposition and Content-Type (signed into the URL)."""
        if self.backend != "s3":
            raise StorageError("download links need an S3 store; a local folder is read through the API")
        headers: dict[str, str] = {}
        if filename:
            headers["response-content-disposition"] = f'attachment; filename="{filename}"'
        if content_type:
            headers["response-content-type"] = content_type
        cfg = self.config
        signer = _minio_client(cfg.public_endpoint or cfg.endpoint, cfg.access_key,
                               cfg.secret_key, cfg.region)
        with storage_errors("sign a download link", key):
            return str(signer.presigned_get_object(
                self.bucket, self._s3_key(key), expires=timedelta(seconds=int(expires_s)),
                response_headers=headers or None))

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys (relative to the root) starting with ``prefix`` (a string prefix,
        not necessarily a folder: ``"registry/sites/v"`` is fine)."""
        with storage_errors("list", prefix):
            if self.backend == "file":
                return self._list_local(prefix)
            _check_prefix(prefix)
            full = f"{self.prefix}/{prefix}" if self.prefix else prefix
            strip = len(self.prefix) + 1 if self.prefix else 0
            keys: list[str] = []
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
            return sorted(keys)

    def _list_local(self, prefix: str) -> builtins.list[str]:
        assert self.root is not None
        _check_prefix(prefix)
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / head if head else self.root
        if not base.is_dir():
            return []
        out = []
        for dirpath, _dirs, files in os.walk(base):
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in files:
                if name.endswith(_TMP_SUFFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    def delete(self, key: str) -> None:
        """Remove an object; deleting a missing object is not an error (as on S3)."""
        with storage_errors("delete", key):
            if self.backend == "file":
                self._path(key).unlink(missing_ok=True)
                return
            self.s3.delete_object(Bucket=self.bucket, Key=self._s3_key(key))

    def get_or_none(self, key: str) -> bytes | None:
        try:
            return self.get(key)
        except NotFoundError:
            return None

    # -- bulk data: pyarrow and Delta Lake --------------------------------------------

    def arrow_filesystem(self) -> "tuple[pyarrow.fs.FileSystem, str]":
        """``(filesystem, base_path)`` for pyarrow: object ``k`` is at ``base_path/k``."""
        import pyarrow.fs as pafs
        if self.backend == "file":
            assert self.root is not None
            return pafs.LocalFileSystem(), str(self.root)
        endpoint = self.config.endpoint
        kwargs: dict[str, Any] = {"region": self.config.region}
        if self.config.access_key:
            kwargs.update(access_key=self.config.access_key, secret_key=self.config.secret_key)
        if endpoint:
            parsed = urlparse(endpoint)
            kwargs.update(endpoint_override=parsed.netloc or endpoint,
                          scheme=parsed.scheme or "https", force_virtual_addressing=False)
        base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return pafs.S3FileSystem(**kwargs), base

    def arrow_path(self, uri_or_key: str) -> str:
        """A Delta file URI (``s3://b/p/x`` or ``file:///p/x`` or ``/p/x``) as a path
        for :meth:`arrow_filesystem`."""
        if uri_or_key.startswith("s3://"):
            return uri_or_key[len("s3://"):]
        if uri_or_key.startswith("file://"):
            return urlparse(uri_or_key).path
        return uri_or_key

    def delta_table_uri(self, name: str) -> str:
        """URI of the Delta table ``tables/<name>`` under this root."""
        _check_key(name)
        if self.root is not None:                # the file backend
            return str(self.root / "tables" / name)
        base = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"{base}/tables/{name}"

    def delta_storage_options(self) -> dict[str, str]:
        """Storage options for ``deltalake`` (empty for local folders).

        On S3, commits use conditional puts (``conditional_put: etag`` -- verified against
        SeaweedFS and AWS), so concurrent writers need no DynamoDB lock.
        """
        if self.backend == "file":
            return {}
        opts = {"AWS_REGION": self.config.region, "conditional_put": "etag"}
        if self.config.endpoint:
            opts["AWS_ENDPOINT_URL"] = self.config.endpoint
            if self.config.endpoint.startswith("http://"):
                opts["AWS_ALLOW_HTTP"] = "true"
            opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        if self.config.access_key:
            opts["AWS_ACCESS_KEY_ID"] = self.config.access_key
            opts["AWS_SECRET_ACCESS_KEY"] = self.config.secret_key or ""
        return opts


__all__ = ["ObjectStore", "ObjectStat"]
