"""Helpers the charge-type modules share: the price series of a node, and a day-ahead
line (one hour x the position x the day-ahead price) used by every ISO."""
from __future__ import annotations

import numpy as np

from ..errors import DataMissingError
from .inputs import MarketInputs
from .lines import Lines
from .series import Series, grid, price


def lmp(inp: MarketInputs, run: str, node: str, component: str | None = None) -> Series | None:
    """The ``run`` prices of ``node`` (or one component of them); None if absent."""
    curve = inp.price_curve(run, node)
    if curve is None:
        return None
    if component is None:
        return curve.lmp
    s = curve.components.get(component)
    if s is None:
        raise DataMissingError(f"{inp.resource.iso} {run} prices at {node}: no {component} "
                               "component (give energy, congestion and loss, or none)")
    return s


def components_of(inp: MarketInputs, run: str, node: str) -> list[str | None]:
    """``[energy, congestion, loss]`` where the prices carry components, else ``[None]``
    (the total LMP on one line)."""
    curve = inp.price_curve(run, node)
    return ["energy", "congestion", "loss"] if curve is not None and curve.has_components else [None]


def priced(inp: MarketInputs, run: str, node: str, starts: np.ndarray, minutes: int,
           label: str, component: str | None = None) -> np.ndarray:
    return price(lmp(inp, run, node, component), starts, minutes, label)


def hourly_awards(inp: MarketInputs, product: str, start_us: int, end_us: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Hours of ``[start, end)`` with a non-zero ``product`` award, and its energy (wh12)."""
    starts = grid(start_us, end_us, 60)
    q = inp.award_energy(product, starts, 60)
    keep = q != 0
    return starts[keep], q[keep]


def hourly_position(inp: MarketInputs, start_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Hours with a non-zero day-ahead position (sale - purchase), and the position (wh12)."""
    starts = grid(start_us, end_us, 60)
    q = inp.da_position(starts, 60)
    keep = (q != 0) | (inp.award_energy("da_sale", starts, 60) != 0)
    return starts[keep], q[keep]


def rule_name(module: str) -> str:
    """``engine.market.ercot.rteiamt`` -> ``ercot.rteiamt``."""
    return module.removeprefix("engine.market.")


__all__ = ["lmp", "components_of", "priced", "hourly_awards", "hourly_position", "rule_name",
           "Lines"]
