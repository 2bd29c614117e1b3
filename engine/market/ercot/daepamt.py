"""ERCOT ``DAEPAMT``: Day-Ahead Energy Purchase Amount, per QSE, settlement point and hour.

Formula (Nodal Protocols §4.6.2.2; the charge side of the DAESAMT slide of ERCOT
"Module 3: Day-Ahead Market"; **the exact text was not seen**: recalled as the
mirror of the confirmed DAESAMT)::

    DAEPAMT q,p,h = DASPP p,h x DAEP q,p,h

``DAEP`` the energy bought in the DAM (MWh for the hour). Positive = charged to the
QSE. One line per hour with a non-zero purchase. Searched again: the protocol text is
not in the corpus; public settlement-data code describes DAEPAMT as "the Settlement-
Quality Day-Ahead Energy Charge" and negates it to show revenue, as it does DAESAMT:
the sign agrees, the equation remains unconfirmed.
"""
from __future__ import annotations

from ..common import Lines, hourly_awards, priced, rule_name
from ..inputs import MarketInputs

CHARGE_TYPE = "DAEPAMT"
NAME = "Day-Ahead Energy Purchase Amount"
SOURCE = "ERCOT Nodal Protocols §4.6.2.2 (formula recalled, not seen)"
CONFIRMED = False


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    starts, daep = hourly_awards(inp, "da_purchase", start_us, end_us)
    if starts.size == 0:
        return []
    daspp = priced(inp, "DA", r.settlement_point, starts, 60, f"ERCOT DASPP {r.settlement_point}")
    return [Lines("ERCOT", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 60, daep, daspp, sign=1, da_wh12=-daep)]
