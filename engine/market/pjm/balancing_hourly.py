"""PJM balancing on hourly settlement intervals (operating days before 2018-04-01), at
the hourly integrated real-time price. The equation and its sources: ``pjm.balancing``."""
from __future__ import annotations

from ..common import Lines, rule_name
from ..inputs import MarketInputs
from .balancing import CHARGE_TYPES, NAME, SOURCE, balancing

CONFIRMED = False
__all__ = ["CHARGE_TYPES", "NAME", "SOURCE", "compute"]


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    return balancing(inp, start_us, end_us, 60, rule_name(__name__))
