"""The CLI starts light (issue 12, point 7): building the argument tree imports none of
Ray, FastAPI, pyarrow or numpy, so ``m2c --help`` and a read-only command do not pay
for them. (Timings are measured by ``bench/cli.py``, never asserted here.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("ray", "fastapi", "pyarrow", "numpy", "pydantic", "httpx", "yaml", "jsonschema",
         "deltalake", "boto3", "uvicorn")


def _imported_after(code: str, env: dict | None = None) -> list[str]:
    probe = (f"import sys\n{code}\n"
             f"print('\\n' + __import__('json').dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_nothing_heavy():
    assert _imported_after(
        "from api.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0") == []


def test_every_command_help_imports_nothing_heavy():
    from api.cli.main import COMMAND_MODULES
    for name in COMMAND_MODULES:
        assert _imported_after(
            "from api.cli.main import main\n"
            f"try:\n    main([{name!r}, '--help'])\nexcept SystemExit as e:\n    assert e.code == 0"
        ) == [], name


def test_a_remote_command_needs_only_the_http_client(tmp_path):
    # nothing listens on port 9: the command fails, having imported only what it needs
    mods = _imported_after(
        "from api.cli.main import main\n"
        "assert main(['--api', 'http://127.0.0.1:9', 'invoices', 'list']) == 1",
        env={"M2C_HOME": str(tmp_path), "M2C_API_KEY": "k"})
    assert "httpx" in mods and not {"ray", "fastapi", "pyarrow", "numpy"} & set(mods)
