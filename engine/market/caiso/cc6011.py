"""CAISO CC 6011: Day-Ahead (IFM) Energy Settlement of a resource, per trading hour.

    amount_h = (-1) x Q_DA,h x LMP_DA,h

``Q_DA`` the resource's IFM schedule (MW for the hour; supply > 0), ``LMP_DA`` the
IFM LMP at its PNode (Tariff §11.2.1.1; configuration guide CC 6011 §3.6, **not
seen**: structure recalled). One line per hour with a schedule.
"""
from __future__ import annotations

from ..common import Lines, hourly_position, priced, rule_name
from ..inputs import MarketInputs

CHARGE_TYPE = "6011"
NAME = "Day Ahead Energy, Congestion, Loss Settlement"
SOURCE = "CAISO Tariff §11.2.1.1; CG CC 6011 §3.6 (formula recalled, not seen)"
CONFIRMED = False


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    starts, q = hourly_position(inp, start_us, end_us)
    if starts.size == 0:
        return []
    p = priced(inp, "DA", r.settlement_point, starts, 60, f"CAISO IFM LMP {r.settlement_point}")
    return [Lines("CAISO", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 60, q, p, sign=-1, da_wh12=q)]
