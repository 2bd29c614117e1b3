"""Translation of backend exceptions (botocore, minio, deltalake, OS) into ``engine.errors``.

Nothing above ``storage`` sees a ``ClientError``, a ``DeltaError`` or an ``OSError``
from the object store: the store and the tables wrap every backend call in
:func:`storage_errors`, which re-raises

* a missing object/table as :class:`~engine.errors.NotFoundError`,
* anything else as :class:`~engine.errors.StorageError`,

with the operation and key in the message and the original exception chained
(``raise ... from exc``) for the log.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine.errors import M2CError, NotFoundError, StorageError

#: S3 error codes that mean "no such object / bucket".
S3_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchBucket"})
#: S3 answer to a failed ``If-None-Match: *`` (the object exists).
S3_PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412"})
#: S3 answer to a conditional write racing another one: retry.
S3_CONDITIONAL_CONFLICT = frozenset({"ConditionalRequestConflict", "409"})


def s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` or a minio-py ``S3Error`` (the
    HTTP status of a minio-py ``ServerError``); None for other exceptions."""
    if type(exc).__module__.startswith("minio"):
        code = getattr(exc, "code", None) or getattr(exc, "status_code", None)
        return str(code) if code is not None else None
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code is None:
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(status) if status is not None else None
    return str(code) if code is not None else None


def translate(exc: BaseException, op: str, key: str) -> M2CError:
    """Map one backend exception to the project's error tree (does not raise)."""
    if isinstance(exc, M2CError):
        return exc
    if isinstance(exc, FileNotFoundError) or s3_error_code(exc) in S3_NOT_FOUND_CODES:
        return NotFoundError(f"{op} {key!r}: not found")
    not_found: tuple[type[BaseException], ...] = ()
    try:                                      # deltalake is optional at import time
        from deltalake.exceptions import TableNotFoundError
        not_found = (TableNotFoundError,)
    except ImportError:                       # pragma: no cover
        pass
    if isinstance(exc, not_found):
        return NotFoundError(f"{op} {key!r}: table not found")
    return StorageError(f"{op} {key!r} failed: {type(exc).__name__}: {exc}")


@contextmanager
def storage_errors(op: str, key: str) -> Iterator[None]:
    """Context manager: re-raise backend exceptions as ``NotFoundError``/``StorageError``."""
    try:
        yield
    except M2CError:
        raise
    except Exception as exc:  # noqa: BLE001 - this is the translation boundary
        raise translate(exc, op, key) from exc


__all__ = ["storage_errors", "translate", "s3_error_code", "S3_NOT_FOUND_CODES",
           "S3_PRECONDITION_FAILED", "S3_CONDITIONAL_CONFLICT"]
