"""The 24/7 carbon-free energy (CFE) score: hourly matching, and volumetric matching beside it.

Google's definition (Google, "24/7 Carbon-Free Energy: Methodologies and Metrics", February
2021; its public ``google_cfe`` dataset schema: "calculated for every hour ... what
percentage of the energy we consumed during an hour that is carbon-free ... take into
account the carbon-free energy already supplied by the grid, in addition to [contracted]
investments ... then aggregate ... for the year"; the implementable formula as written in
``shared/notes/domain.md`` section 5 and used by PyPSA/247-cfe, Riepin & Brown)::

    CFE_h = min(C_h, L_h) + s_h x (L_h - min(C_h, L_h))
    CFE % = sum_h CFE_h / sum_h L_h                         (hourly, monthly, yearly)
    volumetric % = min(sum_h C_h, sum_h L_h) / sum_h L_h    (annual matching)

``C_h``: carbon-free energy delivered or matched by certificates in hour h; ``L_h``: load;
``s_h``: the grid's carbon-free share. Excess (``C_h > L_h``) is not carried to another
hour, which is why volumetric matching overstates the score (tested: a four-hour case by
hand). The formula itself is marked [R] (recalled standard practice, consistent with the
schema text) in the domain notes: the methodology paper's own text was not read here.

At a behind-the-meter site the remainder is not all grid: ``grid_wh`` (the grid-supplied
part of the remainder, ``engine.carbon.attribution`` rule 4) caps the term ``s_h x ...``,
and an on-site fossil remainder counts 0. Without it (``None``) this is the textbook formula.

Units: energies in Wh, ``s_h`` in ppm, ``CFE_h`` in uWh (Wh x ppm): exact integers; a
percentage is their exact ratio rounded once (``engine.carbon.units.pct_str``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from .units import PPM, UWH_PER_WH, pct_str


def hourly_cfe_uwh(clean_wh: int, load_wh: int, cfe_ppm: int, grid_wh: int | None = None) -> int:
    """``CFE_h`` in uWh; ``cfe_ppm`` < 0 (no grid data) counts the grid part as 0."""
    matched = min(clean_wh, load_wh)
    remainder = load_wh - matched
    g = remainder if grid_wh is None else max(0, min(grid_wh, remainder))
    return matched * PPM + (g * cfe_ppm if cfe_ppm >= 0 else 0)


def cfe_pct(cfe_uwh: int, load_wh: int) -> str | None:
    """``sum CFE_h / sum L_h`` in percent, 2 places (None without load)."""
    return pct_str(cfe_uwh, load_wh * UWH_PER_WH)


def volumetric_pct(clean_wh: int, load_wh: int) -> str | None:
    """Annual (volumetric) matching: ``min(sum C, sum L) / sum L`` in percent."""
    return pct_str(min(clean_wh, load_wh), load_wh)


def score(clean_wh: Sequence[int], load_wh: Sequence[int], cfe_ppm: Sequence[int],
          grid_wh: Sequence[int] | None = None) -> dict[str, str | None]:
    """Hourly and volumetric scores of aligned hourly series (the worked examples)."""
    hours = [hourly_cfe_uwh(c, ld, s, None if grid_wh is None else grid_wh[i])
             for i, (c, ld, s) in enumerate(zip(clean_wh, load_wh, cfe_ppm))]
    total_load = sum(load_wh)
    return {"hourly_pct": cfe_pct(sum(hours), total_load),
            "volumetric_pct": volumetric_pct(sum(clean_wh), total_load)}


def bucket_pct(cfe_uwh: Iterable[int], load_wh: Iterable[int], keys: Iterable) -> dict:
    """CFE % per bucket (e.g. local hour of day x day): ``sum CFE / sum L`` over the hours
    sharing a key (a fall-back local hour holds two UTC hours)."""
    num: dict = {}
    den: dict = {}
    for v, ld, k in zip(cfe_uwh, load_wh, keys):
        num[k] = num.get(k, 0) + v
        den[k] = den.get(k, 0) + ld
    return {k: cfe_pct(num[k], den[k]) for k in num}


__all__ = ["hourly_cfe_uwh", "cfe_pct", "volumetric_pct", "score", "bucket_pct"]
