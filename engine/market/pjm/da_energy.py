"""PJM day-ahead energy, congestion and losses of a resource (items 1200, 1210, 1220).

Per hour ``h`` with a day-ahead position ``Q_DA`` (MW cleared: sale - purchase)::

    amount_c,h = (-1) x Q_DA,h x P_DA,c,h        c in {energy, congestion, loss}

``P_DA,energy`` the Day-ahead System Energy Price (OA Schedule 1 §3.2.1(b)-(c): load
charged and generation paid at it, seen); congestion and loss items priced at the
congestion and loss components (Manual 28 §5, §6; recalled, not seen). Without
components: one line (1200) at the total day-ahead LMP.
"""
from __future__ import annotations

from ..common import Lines, components_of, hourly_position, priced, rule_name
from ..inputs import MarketInputs

ITEMS = {"energy": "1200", None: "1200", "congestion": "1210", "loss": "1220"}
CHARGE_TYPES = ("1200", "1210", "1220")
NAME = "Day-ahead Spot Market Energy, Transmission Congestion and Losses"
SOURCE = "PJM OA Schedule 1 §3.2.1 (seen); PJM Manual 28 §3, §5, §6 (recalled)"
CONFIRMED = False


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    starts, q = hourly_position(inp, start_us, end_us)
    if starts.size == 0:
        return []
    out = []
    for comp in components_of(inp, "DA", r.settlement_point):
        p = priced(inp, "DA", r.settlement_point, starts, 60,
                   f"PJM DA {comp or 'LMP'} {r.settlement_point}", comp)
        out.append(Lines("PJM", r.resource_id, r.settlement_point, ITEMS[comp],
                         rule_name(__name__), starts, 60, q, p, sign=-1, da_wh12=q))
    return out
