"""What a shadow settlement reads, for one resource over a range of operating days.

:class:`MarketInputs` holds plain arrays (no I/O): ``jobs`` builds it from the
stored tables (meter, prices, awards) as of pinned data versions. Products of the
awards table (``awards.product``):

==============  ===========================================================  ==========
product         meaning                                                      ISOs
==============  ===========================================================  ==========
``da_sale``     day-ahead energy sold (cleared offers), MW >= 0              all
``da_purchase`` day-ahead energy bought (cleared bids), MW >= 0              all
``fmm``         fifteen-minute market schedule, signed MW (> 0 injection)    CAISO
``rtd``         real-time dispatch (5-minute) schedule, signed MW            CAISO
``base_point``  SCED base point (5-minute), signed MW                        ERCOT
==============  ===========================================================  ==========

The day-ahead *position* is ``da_sale - da_purchase``. Prices are keyed by
``(market_run, node)`` with market runs ``DA`` and ``RT`` (ERCOT: RT = SCED LMPs or
published 15-minute RTSPPs; PJM: 5-minute RT LMPs; CAISO: RT = RTD 5-minute LMPs)
and ``FMM`` (CAISO fifteen-minute market LMPs). A price carries its total
(``lmp``) and, where the file had them, the energy, congestion and loss components.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .resources import MarketResource
from .series import Series, meter_energy, power_energy

PRODUCTS = ("da_sale", "da_purchase", "fmm", "rtd", "base_point")
COMPONENTS = ("energy", "congestion", "loss")


@dataclass(frozen=True)
class PriceCurve:
    """One node's prices for one market run: total LMP and optional components."""
    lmp: Series
    components: dict[str, Series] = field(default_factory=dict)   # energy/congestion/loss

    @property
    def has_components(self) -> bool:
        return all(c in self.components for c in COMPONENTS)


@dataclass(frozen=True)
class MarketInputs:
    resource: MarketResource
    #: channel name -> its meter readings (values in Wh, >= 0)
    meter: dict[str, Series] = field(default_factory=dict)
    #: product -> awards (values in W)
    awards: dict[str, Series] = field(default_factory=dict)
    #: (market_run, node) -> prices
    prices: dict[tuple[str, str], PriceCurve] = field(default_factory=dict)

    def award(self, product: str) -> Series:
        return self.awards.get(product, Series.empty())

    def has_award(self, product: str) -> bool:
        return len(self.award(product)) > 0

    def award_energy(self, product: str, starts: np.ndarray, minutes: int) -> np.ndarray:
        return power_energy(self.award(product), starts, minutes)

    def da_position(self, starts: np.ndarray, minutes: int) -> np.ndarray:
        """Day-ahead position (sale - purchase) in wh12 per interval."""
        return (self.award_energy("da_sale", starts, minutes)
                - self.award_energy("da_purchase", starts, minutes))

    def channels_energy(self, names: tuple[str, ...], starts: np.ndarray, minutes: int) -> np.ndarray:
        out = np.zeros(starts.size, dtype=np.int64)
        for n in names:
            out += meter_energy(self.meter.get(n, Series.empty()), starts, minutes,
                                f"resource {self.resource.resource_id} channel {n}")
        return out

    def net_injection(self, starts: np.ndarray, minutes: int) -> np.ndarray:
        """Metered net injection at the POI (inject - withdraw channels), wh12."""
        r = self.resource
        return (self.channels_energy(r.inject, starts, minutes)
                - self.channels_energy(r.withdraw, starts, minutes))

    def price_curve(self, run: str, node: str) -> PriceCurve | None:
        return self.prices.get((run, node))


__all__ = ["PRODUCTS", "COMPONENTS", "PriceCurve", "MarketInputs"]
