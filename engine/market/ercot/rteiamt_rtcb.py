"""ERCOT ``RTEIAMT`` from RTC+B (operating days from 2025-12-05).

Same equation as ``ercot.rteiamt`` (Nodal Protocols §6.6.3.1; formula recalled, not
seen). What changes with real-time co-optimisation plus batteries: an Energy Storage
Resource is ONE resource, so its metered quantity is its net injection (discharge
minus charging) and may be negative in an interval where it charges. The date and
the single-resource model are from the RTC+B go-live notices (ERCOT, 2025); the
settlement text of the RTC+B protocol revisions was **not seen** here.
"""
from __future__ import annotations

from ..common import Lines, rule_name
from ..inputs import MarketInputs
from .rteiamt import CHARGE_TYPE, NAME, imbalance

SOURCE = "ERCOT Nodal Protocols §6.6.3.1 under RTC+B (go-live 2025-12-05; text not seen)"
CONFIRMED = False
__all__ = ["CHARGE_TYPE", "NAME", "compute"]


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    return imbalance(inp, start_us, end_us, rule_name(__name__), single_esr=True)
