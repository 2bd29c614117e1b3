"""ERCOT ``DAESAMT``: Day-Ahead Energy Sale Amount, per QSE, settlement point and hour.

Formula (**confirmed**: ERCOT training "Module 3: Day-Ahead Market", slide 17,
"Day-Ahead Energy Settlements - Payments"; Nodal Protocols §4.6.2.1)::

    DAESAMT q,p,h = (-1) x DASPP p,h x DAES q,p,h

``DASPP`` the Day-Ahead Settlement Point Price of the settlement point (USD/MWh),
``DAES`` the energy sold in the DAM (MWh for the hour = the awarded MW). Negative =
paid to the QSE: a sale of 50 MW for one hour at 30.00 USD/MWh is -1,500.00 USD.
One line per hour with a non-zero sale (23, 24 or 25 hours a day).
"""
from __future__ import annotations

from ..common import Lines, hourly_awards, priced, rule_name
from ..inputs import MarketInputs

CHARGE_TYPE = "DAESAMT"
NAME = "Day-Ahead Energy Sale Amount"
SOURCE = "ERCOT Module 3: Day-Ahead Market, slide 17; Nodal Protocols §4.6.2.1"
CONFIRMED = True


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    starts, daes = hourly_awards(inp, "da_sale", start_us, end_us)
    if starts.size == 0:
        return []
    dasspp = priced(inp, "DA", r.settlement_point, starts, 60, f"ERCOT DASPP {r.settlement_point}")
    return [Lines("ERCOT", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 60, daes, dasspp, sign=-1, da_wh12=daes)]
