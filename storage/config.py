"""StorageConfig: a plain, picklable description of the object store (reads no env)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StorageConfig:
    uri: str                      # file:///abs/path or s3://bucket/prefix
    endpoint: str | None = None   # S3-compatible endpoint, e.g. http://127.0.0.1:8333
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    #: the S3 endpoint clients reach, for download links (None: ``endpoint``)
    public_endpoint: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")
