"""Under ``--format json`` (``--output json``, ``--json``) a refused command prints one
JSON error document on stdout (exit code unchanged), and stdout carries nothing else:
Ray's driver-side messages ("A worker died ...") go to stderr."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from api.cli.main import main
from api.cli.output import json_mode, print_json, stdout_for_this_thread

DATA = Path(__file__).resolve().parents[1] / "data"
HEADER = "site_id,channel,interval_start,interval_minutes,kwh,quality\n"


@pytest.fixture
def home(local_cli_env):
    """The CLI on a fresh local home with the ingest tests' site registry loaded."""
    assert main(["sites", "load", str(DATA / "ingest" / "sites.yaml")]) == 0
    return local_cli_env


def run_json(capsys, argv: list[str], code: int) -> dict:
    capsys.readouterr()
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and "Traceback" not in err
    return json.loads(out)                       # exactly one JSON document


def test_contract_refusal_as_json(home, tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_bytes(b"contract_id: A\nterms: &t [1]\nmore: *t\n")
    doc = run_json(capsys, ["contracts", "add", str(f), "--format", "json"], 2)
    assert doc["exit_code"] == 2
    assert doc["error"]["type"] == "ValidationError"
    assert (doc["error"]["file"], doc["error"]["line"], doc["error"]["field"]) == (str(f), 2, "terms")
    assert "aliases" in doc["error"]["message"]


def test_meter_refusal_as_json_with_both_spellings(home, tmp_path, capsys):
    f = tmp_path / "m.csv"
    f.write_text(HEADER + "TX-DC1,gt1,2026-10-01T05:00:00Z,5,1_000,A\n")
    for flag in (["--json"], ["--output", "json"]):
        doc = run_json(capsys, ["ingest", "meter", str(f), *flag], 2)
        assert doc["error"] | {"message": None, "problems": None} == {
            "type": "ValidationError", "file": str(f), "line": 2, "field": "kwh",
            "message": None, "problems": None}


def test_prices_and_sites_refusals_as_json(home, tmp_path, capsys):
    p = tmp_path / "p.csv"
    p.write_text("iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh\n"
                 "ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,7,30\n")
    doc = run_json(capsys, ["ingest", "prices", str(p), "--format", "json"], 2)
    assert (doc["error"]["line"], doc["error"]["field"]) == (2, "interval_minutes")
    s = tmp_path / "s.yaml"
    s.write_text("sites:\n  - site_id: A\n    site_id: B\n")
    doc = run_json(capsys, ["sites", "load", str(s), "--format", "json"], 2)
    assert (doc["error"]["line"], doc["error"]["field"]) == (3, "sites[0].site_id")


def test_other_errors_keep_their_exit_code(home, capsys):
    doc = run_json(capsys, ["contracts", "show", "NOPE", "--format", "json"], 1)
    assert doc == {"error": {"type": "NotFoundError", "message": "unknown contract 'NOPE'"},
                   "exit_code": 1}


def test_text_mode_prints_nothing_on_stdout_when_refused(home, tmp_path, capsys):
    f = tmp_path / "m.csv"
    f.write_text(HEADER + "TX-DC1,gt1,2026-10-01T05:00:00Z,5,1e3,A\n")
    assert main(["ingest", "meter", str(f)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{f}:2: field 'kwh'" in err


def _ray_error_message(text: str) -> None:
    """What Ray's driver-side error listener does with "a worker died", on its own
    thread: ``print_to_stdstream`` with ``is_err: False``, i.e. to ``sys.stdout`` (Ray
    de-duplicates similar lines, so each call prints a different one)."""
    from ray._private.worker import print_to_stdstream

    def listener() -> None:
        print_to_stdstream({"lines": [text], "pid": "raylet", "is_err": False},
                           ignore_prefix=False)
    t = threading.Thread(target=listener, name="ray_listen_error_messages")
    t.start()
    t.join()


def test_rays_messages_stay_off_stdout(capsys):
    with stdout_for_this_thread():
        print("the command's output")
        _ray_error_message("A worker died or was killed while executing a task")
    out, err = capsys.readouterr()
    assert out == "the command's output\n" and "A worker died" in err
    with json_mode():
        print("a stray print")
        _ray_error_message("The node with node id abc has been marked dead")
        print_json({"ok": True})
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": True}
    assert "a stray print" in err and "marked dead" in err
