"""PJM real-time balancing energy, congestion and losses (items 1205, 1215, 1225): the
deviation from the day-ahead position, priced in real time.

Per settlement interval ``i`` (5 minutes from 2018-04-01, hourly before)::

    amount_c,i = (-1) x (E_RT,i - Q_DA,h(i) x dt_i) x P_RT,c,i

``E_RT`` the metered net injection in the interval; ``Q_DA x dt`` the day-ahead MW
of the hour spread evenly ("DA ... evenly distributed for each 5 minute interval",
Adapt2's summary of PJM's 5-minute settlement training, seen); ``P_RT`` the real-time
LMP or component of the interval (hourly: the time-weighted average of the 5-minute
prices, "an average of five-minute prices for an hour", PJM Inside Lines, seen). The
balancing equation is the generic two-settlement deviation (domain notes §2.1; Manual
28 §3.2, recalled, not seen; searched again: Manual 28's text is not in the corpus, only
Manual 11's table of contents and ISO-NE's description of the same settlement, "the
net deviation at each location by the real-time locational marginal price ... for each
five-minute settlement interval"). One line per interval, zero or not.
"""
from __future__ import annotations

from ..common import Lines, components_of, priced
from ..inputs import MarketInputs
from ..series import grid

ITEMS = {"energy": "1205", None: "1205", "congestion": "1215", "loss": "1225"}
CHARGE_TYPES = ("1205", "1215", "1225")
NAME = "Balancing Spot Market Energy, Transmission Congestion and Losses"
SOURCE = ("PJM Manual 28 §3.2 (recalled); 5-minute settlement from 2018-04-01 (FERC Order 825, "
          "PJM Inside Lines, seen)")
CONFIRMED = False


def balancing(inp: MarketInputs, start_us: int, end_us: int, minutes: int, rule: str) -> list[Lines]:
    r = inp.resource
    starts = grid(start_us, end_us, minutes)
    e_rt = inp.net_injection(starts, minutes) if r.metered else starts * 0
    q_da = inp.da_position(starts, minutes)
    dev = e_rt - q_da
    out = []
    for comp in components_of(inp, "RT", r.settlement_point):
        p = priced(inp, "RT", r.settlement_point, starts, minutes,
                   f"PJM RT {comp or 'LMP'} {r.settlement_point}", comp)
        out.append(Lines("PJM", r.resource_id, r.settlement_point, ITEMS[comp], rule, starts,
                         minutes, dev, p, sign=-1, metered_wh12=e_rt, da_wh12=q_da))
    return out
