"""Fixtures for cluster tests: a real job catalog, and real meter data in Delta tables (the
data set and its expected totals: ``tests/support/meter_totals_data.py``)."""
from __future__ import annotations

import pytest

from jobs.catalog import JobCatalog
from tests.support.meter_totals_data import write_meter_data


@pytest.fixture
def catalog(tmp_path) -> JobCatalog:
    cat = JobCatalog(f"sqlite:///{tmp_path / 'm2c.db'}")
    cat.init_schema()
    return cat


@pytest.fixture
def meter_data(local_storage) -> tuple:
    return local_storage, write_meter_data(local_storage)
