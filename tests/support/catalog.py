"""Opening a job catalog for tests (the fixtures are in ``tests/conftest.py``)."""
from __future__ import annotations

from pathlib import Path

from jobs.catalog import JobCatalog


def sqlite_catalog_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_catalog(url: str) -> JobCatalog:
    """The job catalog at ``url``, its schema created (idempotent)."""
    catalog = JobCatalog(url)
    catalog.init_schema()
    return catalog
