"""Running ``m2c`` in tests (a pytest plugin of ``tests/conftest.py``): the real entry
point (``api.cli.main.main``) in-process, its output captured per command, and its
environment pointed at the test's home, storage and job catalog.

Fixtures:

* ``cli_env``: the CLI's settings on a fresh home, the parametrised storage backend
  (a local folder and the real S3 server) and the suite's job catalog; returns the home.
* ``local_cli_env``: the same on the local-folder backend only (``local_storage``).
* ``m2c``: a ``Cli`` bound to ``capsys``: ``m2c("jobs", "list")``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storage.config import StorageConfig

#: every variable ``api.settings.Settings.from_env`` reads
SETTINGS_VARIABLES = ("M2C_HOME", "M2C_STORAGE", "M2C_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
                      "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "M2C_DB",
                      "RAY_ADDRESS", "M2C_WORKERS", "M2C_PARTITION_SIZE", "M2C_API_URL",
                      "M2C_API_KEY", "M2C_API_MAX_BODY_BYTES", "M2C_S3_PUBLIC_ENDPOINT")


def point_cli_at(monkeypatch: pytest.MonkeyPatch, home: Path, storage: StorageConfig,
                 db_url: str) -> Path:
    """Set the CLI's settings (read from the environment) to ``home``, ``storage`` and
    the job catalog at ``db_url``; every other setting is unset, so the shell running
    the tests cannot leak in (no ``RAY_ADDRESS``: the CLI joins the session's Ray).
    Returns ``home``."""
    for var in SETTINGS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("M2C_HOME", str(home))
    monkeypatch.setenv("M2C_STORAGE", storage.uri)
    monkeypatch.setenv("M2C_DB", db_url)
    for var, value in (("M2C_S3_ENDPOINT", storage.endpoint),
                       ("AWS_ACCESS_KEY_ID", storage.access_key),
                       ("AWS_SECRET_ACCESS_KEY", storage.secret_key)):
        if value:
            monkeypatch.setenv(var, value)
    return home


@dataclass(frozen=True)
class CliRun:
    """One ``m2c`` command: its exit code and what it wrote."""
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """``m2c(*argv, code=0)`` runs one command and checks its exit code (2 bad input,
    1 other errors); ``m2c.json(...)`` also parses what it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]):
        self.capsys = capsys

    def __call__(self, *argv: str, code: int | None = 0) -> CliRun:
        """Run ``m2c argv``; unless ``code`` is None, fail the test if the exit code
        differs (showing what the command wrote)."""
        from api.cli.main import main
        self.capsys.readouterr()                  # output from before is not this command's
        got = main(list(argv))
        out, err = self.capsys.readouterr()
        run = CliRun(tuple(argv), got, out, err)
        if code is not None:
            assert got == code, f"m2c {' '.join(argv)}: exit {got}, expected {code}\n{err}{out}"
        return run

    def json(self, *argv: str, code: int = 0) -> Any:
        return self(*argv, code=code).json()


@pytest.fixture
def cli_env(storage_config, catalog_url, tmp_path, monkeypatch) -> Path:
    """The CLI on a fresh home, the parametrised storage backend and the suite's job
    catalog; returns the home folder."""
    return point_cli_at(monkeypatch, tmp_path / "home", storage_config, catalog_url)


@pytest.fixture
def local_cli_env(local_storage, catalog_url, tmp_path, monkeypatch) -> Path:
    """``cli_env`` on the local-folder backend only (``local_storage``)."""
    return point_cli_at(monkeypatch, tmp_path / "home", local_storage, catalog_url)


@pytest.fixture
def m2c(capsys) -> Cli:
    return Cli(capsys)
