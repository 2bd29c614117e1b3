"""Settings: the only place the environment is read (at entry points).

Packages below ``api`` receive plain values (``StorageConfig``, paths, addresses)
as arguments and never read the environment themselves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    storage_uri: str
    s3_endpoint: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    aws_region: str
    db_url: str
    ray_address: str | None
    workers: int | None
    partition_size: int = 1
    api_url: str | None = None
    api_key: str | None = None
    #: largest request body the API reads (``M2C_API_MAX_BODY_BYTES``; 413 beyond)
    api_max_body_bytes: int = 1024 * 1024
    #: largest file upload ``POST /v1/ingest/{table}`` takes (``M2C_API_MAX_UPLOAD_BYTES``)
    api_max_upload_bytes: int = 256 * 1024 * 1024
    #: a job fails after this long with no CPU in the cluster (``M2C_WORKER_WAIT_S``)
    worker_wait_s: float = 900.0
    #: the S3 endpoint clients reach, for download links (``M2C_S3_PUBLIC_ENDPOINT``;
    #: default: ``M2C_S3_ENDPOINT``)
    s3_public_endpoint: str | None = None
    bankability_max_paths: int = 100_000      # M2C_BANKABILITY_MAX_PATHS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        e = os.environ if env is None else env
        home = Path(e.get("M2C_HOME", "./.m2c")).expanduser().resolve()
        storage = e.get("M2C_STORAGE") or f"file://{home / 'store'}"
        # the catalog database: sqlite:///abs/path.db (default) or
        # postgresql://user:pass@host:5432/db (jobs.db parses and checks it when opened)
        db = (e.get("M2C_DB") or "").strip() or f"sqlite:///{home / 'm2c.db'}"
        workers = e.get("M2C_WORKERS")
        partition_size = e.get("M2C_PARTITION_SIZE")
        max_body = e.get("M2C_API_MAX_BODY_BYTES")
        max_upload = e.get("M2C_API_MAX_UPLOAD_BYTES")
        worker_wait = e.get("M2C_WORKER_WAIT_S")
        return cls(
            home=home,
            storage_uri=storage,
            s3_endpoint=e.get("M2C_S3_ENDPOINT") or None,
            aws_access_key_id=e.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=e.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            db_url=db,
            ray_address=e.get("RAY_ADDRESS") or None,
            workers=int(workers) if workers else None,
            partition_size=int(partition_size) if partition_size else 1,
            api_url=e.get("M2C_API_URL") or None,
            api_key=e.get("M2C_API_KEY") or None,
            api_max_body_bytes=_positive_int("M2C_API_MAX_BODY_BYTES", max_body, 1024 * 1024),
            api_max_upload_bytes=_positive_int("M2C_API_MAX_UPLOAD_BYTES", max_upload,
                                               256 * 1024 * 1024),
            worker_wait_s=_positive_seconds("M2C_WORKER_WAIT_S", worker_wait, 900.0),
            s3_public_endpoint=e.get("M2C_S3_PUBLIC_ENDPOINT") or None,
            bankability_max_paths=_positive_int("M2C_BANKABILITY_MAX_PATHS",
                                                e.get("M2C_BANKABILITY_MAX_PATHS"), 100_000),
        )

    @property
    def db_public_url(self) -> str:
        """``M2C_DB`` as logs and messages may show it: a PostgreSQL URL without its
        password (``postgresql://m2c:***@db:5432/m2c``), a SQLite URL as it is."""
        from jobs.db import redact_url
        return redact_url(self.db_url)

    def server_paths(self) -> tuple[str, ...]:
        """Absolute local paths an API message must not show (``api.problems.public_text``):
        the home folder, a ``file://`` store root, the SQLite catalog file."""
        paths = [str(self.home)]
        if self.storage_uri.startswith("file://"):
            paths.append(self.storage_uri[len("file://"):])
        if self.db_url.startswith("sqlite:///"):
            paths.append(self.db_url[len("sqlite:///"):])
        return tuple(paths)

    def cluster_config(self):
        """The plain Ray configuration handed to `cluster`."""
        from cluster.runtime import ClusterConfig
        return ClusterConfig(address=self.ray_address, workers=self.workers,
                             partition_size=self.partition_size,
                             local_state_file=str(self.local_cluster_file),
                             worker_wait_s=self.worker_wait_s)

    @property
    def local_cluster_file(self) -> Path:
        """Where ``m2c cluster start`` records the local Ray cluster (``cluster.local``)."""
        return self.home / "cluster.json"

    def storage_config(self):
        """The plain storage configuration handed to `storage` (and to Ray workers)."""
        from storage.config import StorageConfig
        return StorageConfig(uri=self.storage_uri, endpoint=self.s3_endpoint,
                             access_key=self.aws_access_key_id,
                             secret_key=self.aws_secret_access_key, region=self.aws_region,
                             public_endpoint=self.s3_public_endpoint)


def _positive_int(name: str, raw: str | None, default: int) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        from engine.errors import InputError
        raise InputError(f"{name} must be a positive integer, got {raw[:40]!r}")
    return value


def _positive_seconds(name: str, raw: str | None, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        from engine.errors import InputError
        raise InputError(f"{name} must be a positive number of seconds, got {raw[:40]!r}")
    return value
