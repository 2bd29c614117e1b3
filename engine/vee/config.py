"""VEE's parameters (``VeeConfig``); each names the rule it tunes."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VeeConfig:
    """VEE parameters (defaults follow CA DASMMD / Itron practice; see ``engine.vee``)."""
    max_interp_minutes: int = 120        # longest run filled by linear interpolation
    like_days: int = 3                   # like days averaged by LIKEDAY
    #: largest share of a channel's range LIKEDAY may fill (0..1). A channel whose
    #: like-day gaps exceed it gets no like-day estimate at all: those intervals stay
    #: MISSING, so a settlement's completeness gate (``engine.completeness``) sees them
    #: instead of a month rebuilt from a few days of data.
    max_likeday_share: float = 0.10
    spike_ratio: float = 3.0             # value / last valid value above this -> spike
    spike_floor_fraction: float = 0.05   # ignore jumps from below this share of the reference level
    nameplate_tolerance: float = 1.05    # impossible above tolerance x nameplate energy
    default_interval_minutes: int = 60   # grid of a channel with no rows at all
    #: channel kinds the spike check applies to; grid import/export are net flows that
    #: step whenever on-site units start, stop or a battery switches, so not by default
    spike_kinds: tuple[str, ...] = ("load", "generation", "storage_discharge", "storage_charge")

    def __post_init__(self) -> None:
        if self.max_interp_minutes < 0:
            raise ValueError("max_interp_minutes must be >= 0")
        if self.like_days < 1:
            raise ValueError("like_days must be >= 1")
        if not 0 <= self.max_likeday_share <= 1:
            raise ValueError("max_likeday_share must be between 0 and 1")
        if self.spike_ratio <= 1:
            raise ValueError("spike_ratio must be > 1")
        if self.spike_floor_fraction < 0:
            raise ValueError("spike_floor_fraction must be >= 0")
        if self.nameplate_tolerance < 1:
            raise ValueError("nameplate_tolerance must be >= 1")
        if self.default_interval_minutes not in (1, 5, 15, 30, 60):
            raise ValueError("default_interval_minutes must be 1, 5, 15, 30 or 60")


__all__ = ["VeeConfig"]
