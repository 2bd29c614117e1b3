"""``m2c serve`` starts and stops cleanly (issue 12, point 5).

The server runs as a real process with an embedded Ray. A busy port is refused before
anything starts; SIGTERM and SIGINT stop it with one line, and leave no process of its
Ray node behind (the dashboard and runtime-env agents used to outlive it, one pair
ignoring SIGTERM). Timeouts are generous; nothing here is a timing assertion.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest


def _env(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M2C_") and k != "RAY_ADDRESS"}
    return {**env, "M2C_HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli.main", "serve", "--port", str(port)],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.timeout(120)
def test_a_busy_port_is_one_line_and_nothing_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(tmp_path / "home", port)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (another m2c serve?); "
        "choose another --port"]
    assert out == "" and not (tmp_path / "home" / "m2c.db").exists()     # nothing started


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_stops_it_with_its_ray_node(tmp_path, sig, code):
    port = _free_port()
    proc = _serve(tmp_path / "home", port)
    try:
        deadline = time.monotonic() + 180
        while True:                   # ready = the catalog answers and Ray is connected
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "m2c serve not ready"
            time.sleep(0.2)
        node = psutil.Process(proc.pid).children(recursive=True)
        names = {p.name() for p in node}
        assert {"raylet", "gcs_server"} <= names and any(n.startswith("ray::") for n in names)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert f"m2c API stopped ({sig.name})" in err
    assert "Traceback" not in err and "received at time" not in err, err
    deadline = time.monotonic() + 30
    while left := [p for p in node if _alive(p)]:
        assert time.monotonic() < deadline, f"left running: {[(p.pid, p.name()) for p in left]}"
        time.sleep(0.2)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
