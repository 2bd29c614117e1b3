"""The bucket under an S3 storage root: created when missing, and given meter2cash's
lifecycle rules, each verified by reading the configuration back.

Rules (:func:`default_rules`; the root's prefix in front of every filter):

* ``abort-incomplete-multipart``: parts of a multipart upload not completed within
  a day are dropped. A writer that dies mid-upload (pyarrow sends large Parquet
  files in parts) leaves parts that cost storage and that no listing shows.
* ``expire-runs``: objects under ``runs/`` expire after :data:`RUNS_RETENTION_DAYS`.
  ``runs/<job_id>/`` is a job's scratch: partition results, its pinned inputs,
  the completeness list of a refused period. A job needs them while it runs (a
  resume recomputes nothing committed); what it published -- invoices, results --
  records everything it read, so nothing billed depends on ``runs/`` afterwards.

Several roots (prefixes) can share a bucket, and the bucket may carry other
applications' rules: a rule's ID names its root (``m2c:<prefix>:<name>``), and
since ``PutBucketLifecycleConfiguration`` replaces the whole configuration, the
current one is read first and every rule not ours is kept.

Servers differ in what they accept: a rule the server refuses (SeaweedFS 4.48
answers ``NotImplemented`` to a ``Transition``), drops or changes is **reported,
not assumed** (:class:`RuleStatus`): every rule is read back and compared. Whether
an accepted rule is then enforced, and when, is the server's (AWS runs lifecycle
about daily; SeaweedFS needs its lifecycle worker). ``m2c demo`` on an S3 root
provisions the bucket and prints the report; so does the tests' S3 fixture.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import StorageError

from .errors import s3_error_code, storage_errors
from .objectstore import ObjectStore

log = logging.getLogger(__name__)

#: days a job's ``runs/`` objects are kept
RUNS_RETENTION_DAYS = 30
#: days an unfinished multipart upload is kept
ABORT_MULTIPART_DAYS = 1
#: S3 error codes meaning "this rule (or lifecycle at all) is not supported"
_REFUSED = {"NotImplemented", "InvalidArgument", "MalformedXML", "InvalidRequest", "501"}


@dataclass(frozen=True)
class RuleStatus:
    """One of our rules after provisioning: ``applied`` (read back as sent),
    ``refused`` (the server rejected it), ``changed`` (read back otherwise) or
    ``dropped`` (accepted, then absent)."""
    id: str
    status: str
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def rule_id(store: ObjectStore, name: str) -> str:
    return f"m2c:{store.prefix}:{name}" if store.prefix else f"m2c:{name}"


def _prefixed(store: ObjectStore, prefix: str) -> str:
    return f"{store.prefix}/{prefix}" if store.prefix else prefix


def default_rules(store: ObjectStore, *, runs_days: int = RUNS_RETENTION_DAYS) -> list[dict]:
    """meter2cash's lifecycle rules for the root of ``store`` (S3 API shape)."""
    return [
        {"ID": rule_id(store, "abort-incomplete-multipart"), "Status": "Enabled",
         "Filter": {"Prefix": _prefixed(store, "")},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS}},
        {"ID": rule_id(store, "expire-runs"), "Status": "Enabled",
         "Filter": {"Prefix": _prefixed(store, "runs/")},
         "Expiration": {"Days": runs_days}},
    ]


def provision(store: ObjectStore, *, rules: list[dict] | None = None) -> dict[str, Any]:
    """Create the bucket of an S3 ``store`` if missing and set ``rules`` (default:
    :func:`default_rules`) beside the bucket's other rules; ``{"bucket", "created",
    "rules": [RuleStatus...]}``. A local store: ``{"bucket": None}``."""
    if not store.is_s3:
        return {"bucket": None, "created": False, "rules": []}
    rules = default_rules(store) if rules is None else rules
    created = _ensure_bucket(store)
    if not rules:
        return {"bucket": store.bucket, "created": created, "rules": []}
    ours = {r["ID"] for r in rules}
    others = [r for r in _current_rules(store) if r.get("ID") not in ours]
    refused: dict[str, str] = {}
    try:
        _put_rules(store, others + rules)
        accepted = list(rules)
    except _Refused:                          # find which: add them one at a time
        accepted = []
        for rule in rules:
            try:
                _put_rules(store, others + accepted + [rule])
                accepted.append(rule)
            except _Refused as exc:
                refused[rule["ID"]] = str(exc)
        if others or accepted:                # without the refused ones (nor older copies)
            _put_rules(store, others + accepted)
        else:
            _delete_rules(store)
    back = {r.get("ID"): r for r in _current_rules(store)}
    report = []
    for rule in rules:
        rid = rule["ID"]
        if rid in refused:
            report.append(RuleStatus(rid, "refused", refused[rid]))
        elif rid not in back:
            report.append(RuleStatus(rid, "dropped", "accepted, then absent when read back"))
        elif back[rid] != rule:
            report.append(RuleStatus(rid, "changed", f"read back as {back[rid]}"))
        else:
            report.append(RuleStatus(rid, "applied"))
    for r in report:
        (log.info if r.status == "applied" else log.warning)(
            "bucket %s lifecycle rule %s: %s %s", store.bucket, r.id, r.status, r.detail)
    return {"bucket": store.bucket, "created": created, "rules": [r.to_dict() for r in report]}


class _Refused(StorageError):
    pass


def _ensure_bucket(store: ObjectStore) -> bool:
    """Create the bucket if it does not exist; True if this call created it."""
    s3 = store.s3
    from botocore.exceptions import ClientError
    with storage_errors("check bucket", store.bucket):
        try:
            s3.head_bucket(Bucket=store.bucket)
            return False
        except ClientError as exc:
            if s3_error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        try:
            kwargs: dict[str, Any] = {"Bucket": store.bucket}
            if store.config.region and store.config.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": store.config.region}
            s3.create_bucket(**kwargs)
            return True
        except ClientError as exc:
            if s3_error_code(exc) in ("BucketAlreadyOwnedByYou",):
                return False
            raise


def _current_rules(store: ObjectStore) -> list[dict]:
    from botocore.exceptions import ClientError
    with storage_errors("read lifecycle", store.bucket):
        try:
            return list(store.s3.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"])
        except ClientError as exc:
            if s3_error_code(exc) in ("NoSuchLifecycleConfiguration", "404"):
                return []
            if s3_error_code(exc) in _REFUSED:
                return []
            raise


def _delete_rules(store: ObjectStore) -> None:
    from botocore.exceptions import ClientError
    with storage_errors("delete lifecycle", store.bucket):
        try:
            store.s3.delete_bucket_lifecycle(Bucket=store.bucket)
        except ClientError as exc:
            if s3_error_code(exc) not in _REFUSED | {"NoSuchLifecycleConfiguration", "404"}:
                raise


def _put_rules(store: ObjectStore, rules: list[dict]) -> None:
    from botocore.exceptions import ClientError
    with storage_errors("set lifecycle", store.bucket):
        try:
            store.s3.put_bucket_lifecycle_configuration(
                Bucket=store.bucket, LifecycleConfiguration={"Rules": rules})
        except ClientError as exc:
            if s3_error_code(exc) in _REFUSED:
                raise _Refused(f"{s3_error_code(exc)}: "
                               f"{exc.response.get('Error', {}).get('Message', exc)}") from None
            raise


__all__ = ["provision", "default_rules", "rule_id", "RuleStatus", "RUNS_RETENTION_DAYS",
           "ABORT_MULTIPART_DAYS"]
