"""The README's walk-through runs as written (issue 12, point 7).

Every line between the ``walkthrough:begin`` / ``walkthrough:end`` markers of
``README.md`` is run literally by ``bash``, in a fresh folder, with nothing substituted
but the environment (``m2c`` on PATH, the default ``M2C_HOME`` of ``./.m2c``, no
``RAY_ADDRESS``); each must exit 0. The walk-through starts a local cluster, builds the
demo, repeats its steps by hand, settles, explains, approves and rebills a month, and
stops the cluster: afterwards no process of that cluster is left.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = [pytest.mark.timeout(900)]


def walkthrough_lines(text: str) -> list[str]:
    block = re.search(r"<!-- walkthrough:begin -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->",
                      text, re.S)
    assert block, "README.md has no walk-through between the markers"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_walkthrough_names_only_what_runs():
    lines = walkthrough_lines(README.read_text())
    assert lines[0].startswith("m2c cluster start") and lines[-1].startswith("m2c cluster stop")
    assert any(line.startswith("m2c contracts add .m2c/demo/contracts/ppa_tx_dc1.yaml") for line in lines)
    # the curl example of the API section sends JSON as JSON
    curl = README.read_text().split("curl -s -X POST", 1)[1].split("\n\n", 1)[0]
    assert "Content-Type: application/json" in curl


def test_the_readme_walkthrough_runs_literally(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("M2C_", "AWS_")) and k != "RAY_ADDRESS"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    lines = walkthrough_lines(README.read_text())
    stderr, outputs, cluster = {}, {}, None
    try:
        for line in lines:
            done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{line}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            assert "Traceback" not in done.stderr, line
            stderr[line.split("#")[0].strip()] = done.stderr
            outputs[line.split("#")[0].strip()] = done.stdout
            state = tmp_path / ".m2c" / "cluster.json"
            if state.exists():
                cluster = json.loads(state.read_text())
    finally:
        subprocess.run(["bash", "-c", "m2c cluster stop"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=120)
    # the shown contract goes back in as it is: nothing new is stored
    assert "unchanged, already v1" in outputs["m2c contracts add ppa_tx_dc1.yaml"]
    # the commands that need Ray joined the running cluster instead of starting one
    assert "joining the local Ray cluster at 127.0.0.1:" in stderr["m2c settle --period 2026-09"]
    home = tmp_path / ".m2c"
    assert (home / "demo" / "contracts" / "ppa_tx_dc1.yaml").is_file()
    assert "PPA-TX-DC1" in (tmp_path / "invoice.html").read_text()
    assert len((tmp_path / "on_peak.csv").read_text().splitlines()) > 100
    assert (tmp_path / "ppa_tx_dc1.yaml").read_text().startswith("# contract PPA-TX-DC1 version 1")
    assert not (home / "cluster.json").exists()
    from cluster.local import session_processes
    assert cluster is not None
    port = int(cluster["address"].rpartition(":")[2])
    assert session_processes(cluster["temp_dir"], port) == []     # no process of it is left
