"""Suite fixtures: one real Ray cluster and one real S3 server (SeaweedFS) per session,
storage on both backends, and the job catalog.

Ray and SeaweedFS start lazily, only when a test asks for them, so engine-only runs stay
fast. The API's fixtures (``tests/support/api_app.py``) and the CLI's
(``tests/support/cli.py``) are plugins of this file, shared by ``tests/api`` and
``tests/cli``.
"""
from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import pytest

from storage.config import StorageConfig

pytest_plugins = ["tests.support.api_app", "tests.support.cli"]

TEST_DATA = Path(__file__).resolve().parent / "data"
#: real AEMO NEM12 sample files (nemreader's examples, MIT: see LICENSE-nemreader-examples
#: there), kept in the repository so any clone runs the suite
NEM12_DIR = TEST_DATA / "nem12"


@pytest.fixture(scope="session")
def nem12_dir() -> Path:
    if not NEM12_DIR.is_dir():
        pytest.fail(f"NEM12 samples not found at {NEM12_DIR}")
    return NEM12_DIR


@pytest.fixture(scope="session")
def seaweed():
    from storage.bucket import provision
    from storage.objectstore import ObjectStore
    from tests.support.seaweed import start_seaweed
    server = start_seaweed(bucket="m2c-test")
    # the bucket as `m2c demo` leaves one: meter2cash's lifecycle rules, read back
    provision(ObjectStore.from_config(StorageConfig(
        uri="s3://m2c-test", endpoint=server.endpoint, access_key=server.access_key,
        secret_key=server.secret_key)))
    yield server
    server.stop()


@pytest.fixture
def local_storage(tmp_path) -> StorageConfig:
    return StorageConfig(uri=f"file://{tmp_path / 'store'}")


@pytest.fixture
def s3_storage(seaweed) -> StorageConfig:
    """A fresh prefix in the session bucket for each test."""
    return StorageConfig(uri=f"s3://m2c-test/t-{uuid.uuid4().hex[:12]}", endpoint=seaweed.endpoint,
                         access_key=seaweed.access_key, secret_key=seaweed.secret_key)


@pytest.fixture(params=["local", "s3"])
def storage_config(request) -> StorageConfig:
    """Runs a test against both backends: a local folder and the real S3 server."""
    return request.getfixturevalue(f"{request.param}_storage")


@pytest.fixture(scope="session")
def demo_stores(tmp_path_factory):
    """``demo_stores.copy(folder, **load_demo options)``: a local store holding the demo
    portfolio, loaded once per session and options (``tests/support/portfolio.py``)."""
    from tests.support.portfolio import DemoStores
    return DemoStores(tmp_path_factory.mktemp("demo-stores"))


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray per test session (2 CPUs, no dashboard)."""
    from cluster.runtime import ClusterConfig, ensure_ray, shutdown
    config = ClusterConfig(num_cpus=2, object_store_memory=256 * 1024**2, namespace="m2c-tests")
    ensure_ray(config)
    yield config
    shutdown()


# -- the job catalog --------------------------------------------------------------------------
# The one place the suite makes job catalogs. A test asks for ``catalog`` (an empty catalog,
# schema created), ``catalog_url`` (where that catalog lives, for code that opens its own
# connections: the CLI, the API, Ray workers, child processes) or ``new_catalog`` (another
# empty one per call, e.g. to run the same job twice past the natural-key dedupe).
#
# Two backends: SQLite (a file in the test's folder) and PostgreSQL (a database of its own
# on the session's server, ``tests/support/postgres.py``). ``catalog_backend`` says which.
# Tests (or modules) marked ``catalog_backends`` run on both; the others on SQLite, unless
# ``--catalog-backends=sqlite,postgresql`` runs every test that uses a catalog on both.
# Without the PostgreSQL binaries the PostgreSQL runs are skipped with the reason, and the
# session's summary says how many did not run.

CATALOG_BACKENDS = ("sqlite", "postgresql")
#: the prefix of the skip reason of a PostgreSQL run that could not run (counted at the end)
PG_SKIP = "PostgreSQL catalog not available"


def pytest_addoption(parser):
    parser.addoption("--catalog-backends", default=None, metavar="LIST",
                     help="run every test that uses a job catalog on these backends "
                          "(comma-separated, of: sqlite, postgresql); by default the tests "
                          "marked catalog_backends run on both and the others on sqlite")


def pytest_generate_tests(metafunc):
    if "catalog_backend" not in metafunc.fixturenames:
        return
    if any(m.name == "parametrize" and "catalog_backend" in str(m.args[0])
           for m in metafunc.definition.iter_markers()):
        return                                 # the test chose its backends itself
    option = metafunc.config.getoption("--catalog-backends")
    if option:
        backends = [b.strip() for b in option.split(",") if b.strip()]
        unknown = set(backends) - set(CATALOG_BACKENDS)
        if unknown:
            raise pytest.UsageError(f"--catalog-backends: unknown {sorted(unknown)}; "
                                    f"choose from {', '.join(CATALOG_BACKENDS)}")
    elif metafunc.definition.get_closest_marker("catalog_backends"):
        backends = list(CATALOG_BACKENDS)
    else:
        return
    metafunc.parametrize("catalog_backend", backends, indirect=True)


def pytest_terminal_summary(terminalreporter):
    """Say loudly which tests did not run for want of a machine's part (skips, not passes)."""
    _postgres_not_run(terminalreporter)
    _browser_not_run(terminalreporter)


def _postgres_not_run(terminalreporter) -> None:
    """How many PostgreSQL runs did not happen."""
    missed = [r for r in terminalreporter.stats.get("skipped", [])
              if isinstance(r.longrepr, tuple) and PG_SKIP in str(r.longrepr[2])]
    if missed:
        reason = str(missed[0].longrepr[2]).split(": ", 1)[-1]
        terminalreporter.write_sep("!", f"{len(missed)} PostgreSQL catalog test runs did NOT "
                                        f"run: {reason}", red=True, bold=True)


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server (started on first use; skipped, with the reason,
    where the binaries are missing)."""
    from tests.support.postgres import PostgresServer, PostgresUnavailable
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.skip(f"{PG_SKIP}: {exc}")
    yield server
    server.stop()


@pytest.fixture
def catalog_backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def new_catalog_url(request, catalog_backend, tmp_path) -> Iterator[Callable[[], str]]:
    """Makes the URL of another, empty catalog at each call (a PostgreSQL database is
    dropped when the test ends)."""
    from tests.support.catalog import sqlite_catalog_url
    numbers = itertools.count()
    if catalog_backend == "sqlite":
        yield lambda: sqlite_catalog_url(tmp_path / f"catalog-{next(numbers)}.db")
        return
    if catalog_backend != "postgresql":
        raise ValueError(f"unknown catalog backend {catalog_backend!r}")
    server = request.getfixturevalue("postgres_server")
    made: list[str] = []

    def new_url() -> str:
        made.append(server.create_database())
        return made[-1]

    yield new_url
    for url in made:
        server.drop_database(url)


@pytest.fixture
def catalog_url(new_catalog_url) -> str:
    return new_catalog_url()


@pytest.fixture
def catalog(catalog_url):
    """The test's job catalog (at ``catalog_url``), schema created."""
    from tests.support.catalog import open_catalog
    return open_catalog(catalog_url)


@pytest.fixture
def new_catalog(new_catalog_url):
    """Opens another, empty job catalog at each call."""
    from tests.support.catalog import open_catalog
    return lambda: open_catalog(new_catalog_url())


# -- tests that need a machine's browser: never a silent pass -----------------------------------
def _browser_not_run(terminalreporter) -> None:
    """Which browser tests did not run (no Chromium, no playwright) and why."""
    not_run = [r for r in terminalreporter.stats.get("skipped", [])
               if "BROWSER TEST NOT RUN" in str(getattr(r, "longrepr", ""))]
    if not_run:
        terminalreporter.section("BROWSER TESTS NOT RUN", sep="!", red=True, bold=True)
        for r in not_run:
            reason = str(r.longrepr[2]) if isinstance(r.longrepr, tuple) else str(r.longrepr)
            terminalreporter.write_line(f"NOT RUN: {r.nodeid}: {reason}", red=True)
        terminalreporter.write_line(f"{len(not_run)} browser test(s) did not run: install Debian's chromium "
                                    "(.ci/run does) to run them", red=True, bold=True)
