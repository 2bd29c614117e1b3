"""`m2c keys`: the key is printed once, stored only as a digest, listed without secrets."""
from __future__ import annotations

import json
import sqlite3

from api.cli.main import main
from api.keystore import KeyStore, digest


def test_keys_create_list_revoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("M2C_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("M2C_DB", raising=False)
    assert main(["keys", "create", "--role", "scheduler", "--label", "cron"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("m2c_") and len(key) == 4 + 12 + 1 + 43
    db = tmp_path / "home" / "m2c.db"
    assert KeyStore(f"sqlite:///{db}").authenticate(key)[1].value == "scheduler"

    assert main(["keys", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["role"], k["label"], k["revoked_at"]) for k in listed] == [("scheduler", "cron", None)]
    assert key not in json.dumps(listed)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT key_sha256 FROM api_keys").fetchall()
    assert stored == [(digest(key),)]
    assert key.encode() not in db.read_bytes()

    key_id = listed[0]["key_id"]
    assert main(["keys", "revoke", key_id]) == 0
    assert KeyStore(f"sqlite:///{db}").authenticate(key) is None
    assert main(["keys", "revoke", key_id]) == 1              # already revoked: not found
    assert main(["keys", "create", "--role", "admin", "--format", "json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["role"] == "admin" and created["key"].startswith(f"m2c_{created['key_id']}_")
