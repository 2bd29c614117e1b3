"""A site's channels over a scenario's horizon, and the energy balance they keep.

Site ops (meter data, export rules, battery re-dispatch) rewrite the VEE'd channels
of a site, month by month (:class:`SiteHorizon`), at their own resolution, before the
contract engine places them on the billing grid, exactly where
``jobs.contract_period``'s ``transform`` hook rewrites a site-month's inputs.

Balance. A behind-the-meter site's channels close the energy balance::

    load + storage_charge + grid_export = generation + storage_discharge + grid_import

After an op changes load, generation or storage, :func:`rebalance` moves the site's
net import ``grid_import - grid_export`` by the change of ``load + storage_charge -
generation - storage_discharge`` (whatever residual the metered data had is kept)
and splits it again: ``import = max(net, 0)``, ``export = max(-net, 0)``. So adding
solar raises exports, an outage raises imports, and delivered energy, exports and
every charge follow through the contract engine. A site with more than one import or
export channel cannot be rebalanced (the split between them is unknown): a variant
changing its channels is refused before any work. Taking energy off the exports
(:func:`curtail`) takes it off generation instead (in proportion to each generator's
output, in integers), then off storage discharge, then off imports.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..delivered import resolve_refs
from ..errors import InputError
from ..settlement import MarketData
from ..sites import Site
from .exact import allocate

#: sign of a channel kind's energy in the site's net import
NET_SIGN = {"load": 1, "storage_charge": 1, "generation": -1, "storage_discharge": -1}


@dataclass(frozen=True)
class SiteMonth:
    """One billing month of a site: its VEE'd channels and the variant's market."""
    period: str
    b0: int
    b1: int
    channels: Mapping[str, Any]          # name -> engine.vee.ChannelVee (or any VEE series)
    market: MarketData


@dataclass(frozen=True)
class SiteHorizon:
    """A site over the scenario's months (time order), with what site ops may read:
    the contract versions settling it (for a battery maximising contract revenue)."""
    site: Site
    months: tuple[SiteMonth, ...]
    contracts: tuple[Any, ...] = ()      # per contract at the site: its versions list

    def with_months(self, months: list[SiteMonth]) -> "SiteHorizon":
        return dataclasses.replace(self, months=tuple(months))


def energy(series: Any) -> np.ndarray:
    return np.asarray(series.energy_wh, dtype=np.int64)


def with_energy(series: Any, wh: np.ndarray) -> Any:
    """The same VEE series (grid, quality, method) with other energy."""
    return dataclasses.replace(series, energy_wh=np.asarray(wh, dtype=np.int64))


def channels_of(site: Site, ref: str) -> list[str]:
    """Channel names behind a reference (a name or ``kind:<kind>``)."""
    return resolve_refs([ref], site)


def grid_channels(site: Site) -> tuple[list[str], list[str]]:
    imp = sorted(n for n, c in site.channels.items() if c.kind == "grid_import")
    exp = sorted(n for n, c in site.channels.items() if c.kind == "grid_export")
    return imp, exp


def balance_problem(site: Site) -> str | None:
    """Why the site cannot be rebalanced, or None."""
    imp, exp = grid_channels(site)
    if len(imp) > 1 or len(exp) > 1:
        return (f"site {site.site_id} has {len(imp)} grid_import and {len(exp)} grid_export channels; "
                f"rebalancing after a change needs at most one of each")
    return None


def _same_grid(a: Any, b: Any) -> bool:
    ga, gb = np.asarray(a.grid_us), np.asarray(b.grid_us)
    return ga.shape == gb.shape and bool(np.array_equal(ga, gb))


def rebalance(site: Site, before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``after`` with its grid import/export moved by the change of the other channels
    since ``before`` (see the module docstring)."""
    out = dict(after)
    imp, exp = grid_channels(site)
    imp = [n for n in imp if n in out]
    exp = [n for n in exp if n in out]
    if not (imp or exp):
        return out
    problem = balance_problem(site)
    if problem:
        raise InputError(problem)
    ref = out[(imp or exp)[0]]
    delta = np.zeros(np.asarray(ref.grid_us).size, dtype=np.int64)
    changed = False
    for name, s in out.items():
        kind = site.channels[name].kind if name in site.channels else None
        if kind not in NET_SIGN or s is before.get(name):
            continue
        if not _same_grid(s, ref):
            raise InputError(f"site {site.site_id}: channel {name} and the grid channels have different "
                             f"interval grids; the site cannot be rebalanced")
        delta += NET_SIGN[kind] * (energy(s) - energy(before[name]))
        changed = True
    if not changed:
        return out
    net = delta.copy()
    if imp:
        net += energy(out[imp[0]])
    if exp:
        net -= energy(out[exp[0]])
    if imp:
        out[imp[0]] = with_energy(out[imp[0]], np.maximum(net, 0))
    if exp:
        out[exp[0]] = with_energy(out[exp[0]], np.maximum(-net, 0))
    return out


def curtail(site: Site, channels: Mapping[str, Any], export: str, remove: np.ndarray) -> dict[str, Any]:
    """Take ``remove`` Wh per interval off the export channel ``export`` and the same
    energy off the supply: generation (in proportion to each generator's output, in
    integers), then storage discharge, then grid import; the balance holds."""
    out = dict(channels)
    x = np.minimum(np.asarray(remove, dtype=np.int64), energy(out[export]))
    out[export] = with_energy(out[export], energy(out[export]) - x)
    left = x
    ref = out[export]
    for kinds in (("generation",), ("storage_discharge",), ("grid_import",)):
        names = sorted(n for n, c in site.channels.items() if c.kind in kinds and n in out
                       and _same_grid(out[n], ref))
        if not names or not left.any():
            continue
        supply = [energy(out[n]) for n in names]
        take = np.minimum(left, np.sum(supply, axis=0))
        for n, part in zip(names, allocate(take, supply)):
            out[n] = with_energy(out[n], energy(out[n]) - part)
        left = left - take
    return out


__all__ = ["SiteMonth", "SiteHorizon", "NET_SIGN", "energy", "with_energy", "channels_of",
           "grid_channels", "balance_problem", "rebalance", "curtail"]
