"""Object-store services beyond get/put, on the real S3 server (SeaweedFS): every object
carries its SHA-256 (boto3), invoice detail downloads go straight from the store (a
link presigned by minio-py, checked against the manifest first), and the bucket's
lifecycle rules are set by minio-py and read back -- here also through boto3, the
other client -- a refused rule reported."""
from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta, timezone

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import IntegrityError
from storage.bucket import default_rules, provision, rule_id
from storage.config import StorageConfig
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.objectstore import ObjectStore
from tests.support.api_app import auth, open_client


def test_objects_are_written_with_their_sha256(storage_config):
    store = ObjectStore.from_config(storage_config)
    body = b"interval detail" * 1000
    store.put("a/b.bin", body)
    assert store.put_if_absent("a/c.bin", body)
    for key in ("a/b.bin", "a/c.bin"):
        stat = store.stat(key)
        assert stat.size == len(body)
        assert stat.sha256 == (hashlib.sha256(body).hexdigest() if store.is_s3 else None)


# -- downloads ------------------------------------------------------------------------

DETAIL = pa.table({"interval_start_utc": pa.array([0, 300_000_000], pa.timestamp("us", "UTC")),
                   "line_id": ["energy_fixed:on_peak"] * 2,
                   "energy_wh": pa.array([20_833_300, 20_833_301], pa.int64())})


@pytest.fixture
def api(storage_config, tmp_path, catalog_url):
    """An API over ``storage_config`` with one published invoice; (client, keys, store)."""
    from api.app import create_app
    from api.auth import Role
    from api.keystore import KeyStore
    from api.settings import Settings
    from tests.support.api_servers import QueueOnlyDispatcher
    env = {"M2C_HOME": str(tmp_path / "m2c"), "M2C_STORAGE": storage_config.uri,
           "M2C_DB": catalog_url}
    if storage_config.endpoint:
        env.update(M2C_S3_ENDPOINT=storage_config.endpoint,
                   AWS_ACCESS_KEY_ID=storage_config.access_key,
                   AWS_SECRET_ACCESS_KEY=storage_config.secret_key)
    settings = Settings.from_env(env)
    keys = KeyStore(settings.db_url)
    now = datetime.now(timezone.utc)
    tokens = {r.value: keys.create(r.value, now_utc=now)[1] for r in Role}
    store = InvoiceStore(ObjectStore.from_config(settings.storage_config()))
    store.publish("PPA-1", "2026-10", lambda v: InvoiceParts(
        invoice_json=json.dumps({"contract_id": "PPA-1", "period": "2026-10", "version": v}).encode(),
        invoice_html="<html></html>", detail_parquet=detail_to_parquet(DETAIL)))
    with open_client(create_app(settings, dispatcher=QueueOnlyDispatcher()),
                     raise_server_exceptions=False) as client:
        yield client, tokens, store


URL = "/v1/invoices/PPA-1/2026-10/detail.parquet"


def test_detail_download_goes_straight_from_the_store(api):
    client, keys, invoices = api
    expected = invoices.part("PPA-1", "2026-10", 1, "detail.parquet")
    r = client.get(URL, headers=auth(keys["analyst"]), follow_redirects=False)
    if invoices.store.is_s3:
        assert r.status_code == 307 and r.headers["cache-control"] == "no-store"
        got = httpx.get(r.headers["location"])              # the object store, not the API
        assert got.status_code == 200 and got.content == expected
        assert 'filename="PPA-1_2026-10_v1_detail.parquet"' in got.headers["content-disposition"]
        doc = client.get(URL, params={"redirect": "false"}, headers=auth(keys["admin"])).json()
        assert doc["sha256"] == hashlib.sha256(expected).hexdigest() and doc["version"] == 1
        assert doc["size"] == len(expected) and doc["expires_at"].endswith("Z")
        assert httpx.get(doc["url"]).content == expected
        # a link is bound to its object: another key under the same signature is refused
        assert httpx.get(doc["url"].replace("detail.parquet", "invoice.json")).status_code == 403
    else:                                                   # a local store: the API sends it
        assert r.status_code == 200 and r.content == expected
        assert r.headers["content-type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(expected)).equals(DETAIL)
    # interval-level data: analysts and admins only, like ?detail=intervals
    assert client.get(URL, headers=auth(keys["investor"])).status_code == 403
    assert client.get(URL).status_code == 401
    assert client.get(URL, params={"version": 2}, headers=auth(keys["analyst"])).status_code == 404


def test_a_changed_detail_gets_no_link(api):
    client, keys, invoices = api
    _, prefix, _ = invoices.committed("PPA-1", "2026-10")
    invoices.store.put(prefix + "detail.parquet", b"not what was published")
    r = client.get(URL, headers=auth(keys["analyst"]), follow_redirects=False)
    assert r.status_code == 500 and "does not match" in r.json()["detail"]


def test_an_object_without_a_recorded_sha256_is_served_verified(s3_storage):
    """Written before checksums (here: by a plain put): no link, the bytes are read and
    checked against the manifest instead."""
    from storage.links import part_link
    invoices = InvoiceStore(ObjectStore.from_config(s3_storage))
    invoices.publish("PPA-1", "2026-10", lambda v: InvoiceParts(
        invoice_json=b"{}", invoice_html="", detail_parquet=detail_to_parquet(DETAIL)))
    v, prefix, manifest = invoices.committed("PPA-1", "2026-10")
    store = invoices.store
    body = store.get(prefix + "detail.parquet")
    store.s3.put_object(Bucket=store.bucket, Key=store._s3_key(prefix + "detail.parquet"), Body=body)
    assert store.stat(prefix + "detail.parquet").sha256 is None
    now = datetime.now(timezone.utc)
    assert part_link(store, prefix, manifest, "detail.parquet", now=now) is None
    assert invoices.part("PPA-1", "2026-10", v, "detail.parquet") == body
    store.put(prefix + "detail.parquet", body)                      # with its SHA-256 again
    link = part_link(store, prefix, manifest, "detail.parquet", now=now, ttl=timedelta(minutes=1))
    assert link is not None and link.expires_at == now + timedelta(minutes=1)
    store.put(prefix + "detail.parquet", body[:-1] + b"\x00")       # same size, other bytes
    with pytest.raises(IntegrityError):
        part_link(store, prefix, manifest, "detail.parquet", now=now)


def test_links_are_signed_offline_for_the_public_endpoint(s3_storage):
    """The link names the host users reach (``M2C_S3_PUBLIC_ENDPOINT``), signing sends
    no request (the public host need not be reachable from the API), and the server
    accepts the signature when that host is the server."""
    from dataclasses import replace
    from urllib.parse import urlparse
    store = ObjectStore.from_config(s3_storage)
    store.put("links/a.bin", b"abc")
    offline = ObjectStore.from_config(replace(s3_storage,
                                              public_endpoint="https://files.example.invalid:9443"))
    url = offline.presigned_get("links/a.bin", expires_s=60, filename="a.bin")
    assert url.startswith("https://files.example.invalid:9443/") and "X-Amz-Signature=" in url
    port = urlparse(s3_storage.endpoint).port
    public = ObjectStore.from_config(replace(s3_storage, public_endpoint=f"http://localhost:{port}"))
    got = httpx.get(public.presigned_get("links/a.bin", expires_s=60, filename="a.bin",
                                         content_type="application/octet-stream"))
    assert got.status_code == 200 and got.content == b"abc"
    assert got.headers["content-disposition"] == 'attachment; filename="a.bin"'


# -- lifecycle ------------------------------------------------------------------------

def test_lifecycle_rules_are_set_beside_others_and_read_back(seaweed):
    cfg = StorageConfig(uri="s3://m2c-lifecycle/deploy-a", endpoint=seaweed.endpoint,
                        access_key=seaweed.access_key, secret_key=seaweed.secret_key)
    store = ObjectStore.from_config(cfg)
    report = provision(store)                                # creates the bucket too
    assert report["bucket"] == "m2c-lifecycle" and report["created"]
    assert [(r["id"], r["status"]) for r in report["rules"]] == [
        ("m2c:deploy-a:abort-incomplete-multipart", "applied"), ("m2c:deploy-a:expire-runs", "applied")]
    rules = store.s3.get_bucket_lifecycle_configuration(Bucket="m2c-lifecycle")["Rules"]
    runs = next(r for r in rules if r["ID"] == rule_id(store, "expire-runs"))
    assert runs["Filter"] == {"Prefix": "deploy-a/runs/"} and runs["Expiration"] == {"Days": 30}

    # another application's rule, and another root in the same bucket, are kept
    other = {"ID": "someone-else", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
             "Expiration": {"Days": 7}}
    store.s3.put_bucket_lifecycle_configuration(Bucket="m2c-lifecycle",
                                                LifecycleConfiguration={"Rules": [*rules, other]})
    second = ObjectStore.from_config(StorageConfig(**{**cfg.__dict__, "uri": "s3://m2c-lifecycle/deploy-b"}))
    assert not provision(second)["created"]
    again = provision(store)                                 # idempotent
    assert {r["status"] for r in again["rules"]} == {"applied"}
    ids = {r["ID"] for r in store.s3.get_bucket_lifecycle_configuration(Bucket="m2c-lifecycle")["Rules"]}
    assert ids == {"someone-else", *(r["ID"] for r in default_rules(store)),
                   *(r["ID"] for r in default_rules(second))}

    # a rule the server does not implement is reported, and the others still applied
    archive = {"ID": rule_id(store, "archive-results"), "Status": "Enabled",
               "Filter": {"Prefix": "deploy-a/results/"},
               "Transitions": [{"Days": 365, "StorageClass": "GLACIER"}]}
    report = provision(store, rules=[*default_rules(store), archive])
    status = {r["id"]: r for r in report["rules"]}
    assert status[archive["ID"]]["status"] == "refused"
    assert "NotImplemented" in status[archive["ID"]]["detail"]
    assert {status[r["ID"]]["status"] for r in default_rules(store)} == {"applied"}
    ids = {r["ID"] for r in store.s3.get_bucket_lifecycle_configuration(Bucket="m2c-lifecycle")["Rules"]}
    assert archive["ID"] not in ids and "someone-else" in ids


def test_a_local_store_has_no_bucket(local_storage):
    assert provision(ObjectStore.from_config(local_storage)) == {"bucket": None, "created": False,
                                                                 "rules": []}
