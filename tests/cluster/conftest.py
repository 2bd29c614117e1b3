"""Fixtures for cluster tests: real meter data in Delta tables (the data set and its
expected totals: ``tests/support/meter_totals_data.py``). The job catalog is the
suite's ``catalog`` fixture (``tests/conftest.py``)."""
from __future__ import annotations

import pytest

from tests.support.meter_totals_data import write_meter_data


@pytest.fixture
def meter_data(local_storage) -> tuple:
    return local_storage, write_meter_data(local_storage)
