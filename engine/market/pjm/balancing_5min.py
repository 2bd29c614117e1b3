"""PJM balancing on 5-minute settlement intervals (operating days from 2018-04-01).
The equation and its sources: ``pjm.balancing``."""
from __future__ import annotations

from ..common import Lines, rule_name
from ..inputs import MarketInputs
from .balancing import CHARGE_TYPES, NAME, SOURCE, balancing

CONFIRMED = False
__all__ = ["CHARGE_TYPES", "NAME", "SOURCE", "compute"]


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    return balancing(inp, start_us, end_us, 5, rule_name(__name__))
