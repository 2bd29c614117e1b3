"""`m2c keys`: the key is printed once, stored only as a digest, listed without secrets."""
from __future__ import annotations

import json
import sqlite3

from api.keystore import KeyStore, digest


def test_keys_create_list_revoke(local_cli_env, monkeypatch, m2c):
    monkeypatch.delenv("M2C_DB")               # the default: the SQLite file in M2C_HOME
    key = m2c("keys", "create", "--role", "scheduler", "--label", "cron").out.strip()
    assert key.startswith("m2c_") and len(key) == 4 + 12 + 1 + 43
    db = local_cli_env / "m2c.db"
    assert KeyStore(f"sqlite:///{db}").authenticate(key)[1].value == "scheduler"

    listed = m2c.json("keys", "list", "--format", "json")
    assert [(k["role"], k["label"], k["revoked_at"]) for k in listed] == [("scheduler", "cron", None)]
    assert key not in json.dumps(listed)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT key_sha256 FROM api_keys").fetchall()
    assert stored == [(digest(key),)]
    assert key.encode() not in db.read_bytes()

    key_id = listed[0]["key_id"]
    m2c("keys", "revoke", key_id)
    assert KeyStore(f"sqlite:///{db}").authenticate(key) is None
    m2c("keys", "revoke", key_id, code=1)              # already revoked: not found
    created = m2c.json("keys", "create", "--role", "admin", "--format", "json")
    assert created["role"] == "admin" and created["key"].startswith(f"m2c_{created['key_id']}_")
