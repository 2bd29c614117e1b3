"""docs/nomenclature.md lists every stored column and every VEE output name."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from engine.schema import INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA
from engine.vee import VEE_SCHEMA, Finding, VeeConfig, VeeCounts

DOC = Path(__file__).resolve().parents[2] / "docs" / "nomenclature.md"


@pytest.fixture(scope="module")
def documented() -> set[str]:
    return set(re.findall(r"`([a-z_][a-z0-9_.]*)`", DOC.read_text()))


@pytest.mark.parametrize("schema", [METER_SCHEMA, PRICE_SCHEMA, INDEX_SCHEMA, VEE_SCHEMA],
                         ids=["meter", "prices", "index", "vee"])
def test_every_column_is_documented(schema, documented):
    assert set(schema.names) - documented == set()


def test_every_vee_field_and_setting_is_documented(documented):
    names = {f.name for cls in (Finding, VeeCounts, VeeConfig) for f in fields(cls)}
    assert names - documented == set()


def test_the_rounding_rule_is_quoted_from_engine_money():
    import engine.money
    # the paragraph under the "The rounding rule" heading and its underline
    rule = engine.money.__doc__.split("The rounding rule")[1].split("\n", 2)[2]
    words = lambda text: " ".join(text.replace("``", "`").replace("**", "").split())  # noqa: E731
    assert words(rule) in words(DOC.read_text())
