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

The calls are minio-py's (:attr:`ObjectStore.minio`): bucket administration is what it
is made for, and it keeps that off the boto3 client of the data path. Rules are
described here as the S3 API writes them (``{"ID", "Status", "Filter": {"Prefix"},
"Expiration": {"Days"}, ...}``, the shape of AWS's documentation and of boto3) and
converted to and from minio-py's ``lifecycleconfig`` objects at the boundary
(:func:`to_minio_rule`, :func:`from_minio_rule`); the bucket's other rules are sent
back as minio-py read them.

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
    others = [r for r in _current_rules(store) if r.rule_id not in ours]
    refused: dict[str, str] = {}
    try:
        _put_rules(store, others + [to_minio_rule(r) for r in rules])
        accepted = [to_minio_rule(r) for r in rules]
    except _Refused:                          # find which: add them one at a time
        accepted = []
        for rule in rules:
            try:
                _put_rules(store, others + accepted + [to_minio_rule(rule)])
                accepted.append(to_minio_rule(rule))
            except _Refused as exc:
                refused[rule["ID"]] = str(exc)
        if others or accepted:                # without the refused ones (nor older copies)
            _put_rules(store, others + accepted)
        else:
            _delete_rules(store)
    back = {r.rule_id: from_minio_rule(r) for r in _current_rules(store)}
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


def to_minio_rule(rule: dict) -> Any:
    """A rule in the S3 API's shape (see the module docstring) as a minio-py ``Rule``:
    a prefix filter, and an expiration, an abort of unfinished multipart uploads or
    ONE transition (what meter2cash sets; anything else is refused here)."""
    from minio.commonconfig import Filter
    from minio.lifecycleconfig import (AbortIncompleteMultipartUpload, Expiration, Rule,
                                       Transition)
    known = {"ID", "Status", "Filter", "Expiration", "AbortIncompleteMultipartUpload",
             "Transitions"}
    if set(rule) - known or set(rule.get("Filter", {})) - {"Prefix"}:
        raise StorageError(f"lifecycle rule {rule.get('ID')!r}: only {sorted(known)} with a "
                           "prefix filter are supported")
    transitions = rule.get("Transitions", [])
    if len(transitions) > 1:
        raise StorageError(f"lifecycle rule {rule['ID']!r}: one transition per rule")
    abort = rule.get("AbortIncompleteMultipartUpload")
    expire = rule.get("Expiration")
    return Rule(
        rule["Status"], rule_filter=Filter(prefix=rule.get("Filter", {}).get("Prefix", "")),
        rule_id=rule["ID"],
        abort_incomplete_multipart_upload=(
            AbortIncompleteMultipartUpload(abort["DaysAfterInitiation"]) if abort else None),
        expiration=Expiration(days=expire["Days"]) if expire else None,
        transition=(Transition(days=transitions[0]["Days"],
                               storage_class=transitions[0]["StorageClass"])
                    if transitions else None))


def from_minio_rule(rule: Any) -> dict:
    """A minio-py ``Rule`` read from the bucket in the S3 API's shape (the parts
    :func:`to_minio_rule` writes; another application's rule may carry more, which
    minio-py keeps on the object and this leaves out)."""
    out: dict[str, Any] = {"ID": rule.rule_id, "Status": rule.status}
    if rule.rule_filter is not None:
        out["Filter"] = {"Prefix": rule.rule_filter.prefix or ""}
    a = rule.abort_incomplete_multipart_upload
    if a is not None:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": a.days_after_initiation}
    if rule.expiration is not None:
        out["Expiration"] = {"Days": rule.expiration.days}
    if rule.transition is not None:
        out["Transitions"] = [{"Days": rule.transition.days,
                               "StorageClass": rule.transition.storage_class}]
    return out


def _ensure_bucket(store: ObjectStore) -> bool:
    """Create the bucket if it does not exist; True if this call created it."""
    client = store.minio
    with storage_errors("create bucket", store.bucket):
        if client.bucket_exists(store.bucket):
            return False
        try:
            client.make_bucket(store.bucket)   # in the client's region (StorageConfig.region)
            return True
        except Exception as exc:               # noqa: BLE001 - created meanwhile: fine
            if s3_error_code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise


def _current_rules(store: ObjectStore) -> list[Any]:
    """The bucket's lifecycle rules as minio-py ``Rule`` objects ([] if none, or if the
    server has no lifecycle at all)."""
    with storage_errors("read lifecycle", store.bucket):
        try:
            config = store.minio.get_bucket_lifecycle(store.bucket)
        except Exception as exc:               # noqa: BLE001 - sorted below
            if s3_error_code(exc) in _REFUSED | {"404"}:
                return []
            raise
        return list(config.rules) if config is not None else []


def _delete_rules(store: ObjectStore) -> None:
    with storage_errors("delete lifecycle", store.bucket):
        try:
            store.minio.delete_bucket_lifecycle(store.bucket)
        except Exception as exc:               # noqa: BLE001 - sorted below
            if s3_error_code(exc) not in _REFUSED | {"NoSuchLifecycleConfiguration", "404"}:
                raise


def _put_rules(store: ObjectStore, rules: list[Any]) -> None:
    """Replace the bucket's lifecycle configuration with ``rules`` (minio-py ``Rule``)."""
    from minio.lifecycleconfig import LifecycleConfig
    with storage_errors("set lifecycle", store.bucket):
        try:
            store.minio.set_bucket_lifecycle(store.bucket, LifecycleConfig(rules))
        except Exception as exc:               # noqa: BLE001 - sorted below
            if s3_error_code(exc) in _REFUSED:
                raise _Refused(f"{s3_error_code(exc)}: {getattr(exc, 'message', None) or exc}"
                               ) from None
            raise


__all__ = ["provision", "default_rules", "rule_id", "RuleStatus", "to_minio_rule",
           "from_minio_rule", "RUNS_RETENTION_DAYS", "ABORT_MULTIPART_DAYS"]
