"""What each channel of a traced site is, for carbon: the site's carbon configuration.

A site is traced when its registry entry names a ``balancing_authority`` (the EIA code of
the grid it imports from, ``engine.carbon.balancing``). Its channels classify so:

=====================  =====================================================================
role                   which channels
=====================  =====================================================================
``combustion``         generation with a ``fuel`` (a fuel of the factor set), or whose
                       ``resource`` is a combustion resource (:data:`COMBUSTION_RESOURCES`,
                       natural gas unless ``fuel`` says otherwise). Scope 1. Needs a metered
                       ``fuel_channel``, a ``heat_rate_mmbtu_per_mwh`` or a
                       ``heat_rate_curve`` (refused otherwise, naming site and channel)
``carbon_free``        generation with ``carbon_free: true`` or a carbon-free ``resource``
                       (:data:`CARBON_FREE_RESOURCES`); issues granular certificates
``storage_charge``,    a battery's flows (pooled: ``engine.carbon.attribution``)
``storage_discharge``
``grid_import``,       the grid's side (Scope 2; exports carry the hour's mix away)
``grid_export``
``load``               what the site consumes
``fuel``               a fuel meter (heat input, Wh HHV), read through its generator
=====================  =====================================================================

Any other generation channel (an unknown resource and no ``fuel``/``carbon_free``) is
refused: carbon tracing does not guess. A heat-rate curve is a step function of the
interval's load fraction (energy / nameplate energy of the interval): each point's heat
rate applies from its ``min_load_pct`` up to the next point's; the first point is at 0 %,
points strictly increase, and the channel needs a ``nameplate_kw``. Steps, not linear
interpolation, so fuel stays an exact integer (``engine.carbon.units``).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..errors import ValidationError
from ..sites import Site
from .balancing import is_balancing_authority
from .factors import factor_set
from .units import heat_rate_milli

#: generation resources that burn fuel, and the fuel they burn unless ``fuel`` is given
COMBUSTION_RESOURCES = {"gas_cc": "natural_gas", "gas_ct": "natural_gas", "gas": "natural_gas",
                        "gas_turbine": "natural_gas", "recip": "natural_gas", "chp": "natural_gas",
                        "diesel": "distillate_fuel_oil_no_2", "propane": "propane"}
#: generation resources that are carbon-free, and the EnergyTag ``energy_source`` they export as
CARBON_FREE_RESOURCES = {"solar": "solar", "pv": "solar", "wind": "wind", "hydro": "hydro",
                         "nuclear": "nuclear", "geothermal": "geothermal"}


@dataclass(frozen=True)
class HeatRateStep:
    min_load_pct: Decimal
    heat_rate_milli: int


@dataclass(frozen=True)
class CombustionChannel:
    name: str
    resource: str
    fuel: str
    heat_rate_milli: int | None              # MMBtu/MWh x 1000
    curve: tuple[HeatRateStep, ...] | None
    fuel_channel: str | None
    nameplate_kw: float | None


@dataclass(frozen=True)
class CleanChannel:
    name: str
    resource: str
    energy_source: str
    nameplate_kw: float | None


@dataclass(frozen=True)
class SiteCarbon:
    """A traced site's channels by role (names sorted)."""
    site_id: str
    timezone: str
    balancing_authority: str
    combustion: tuple[CombustionChannel, ...]
    carbon_free: tuple[CleanChannel, ...]
    storage_charge: tuple[str, ...]
    storage_discharge: tuple[str, ...]
    grid_import: tuple[str, ...]
    grid_export: tuple[str, ...]
    load: tuple[str, ...]

    def channels_read(self) -> list[str]:
        names = [c.name for c in self.combustion] + [c.fuel_channel for c in self.combustion
                                                       if c.fuel_channel] + [c.name for c in self.carbon_free]
        return sorted({*names, *self.storage_charge, *self.storage_discharge, *self.grid_import,
                       *self.grid_export, *self.load})


def _curve(raw: tuple[tuple[str, str], ...], where: str, file: str | None) -> tuple[HeatRateStep, ...]:
    steps: list[HeatRateStep] = []
    for i, (pct, hr) in enumerate(raw):
        pw = f"{where}.heat_rate_curve[{i}]"
        try:
            p = Decimal(pct)
        except (InvalidOperation, ValueError):
            raise ValidationError(f"min_load_pct {pct!r} is not a number", file=file,
                                  field=f"{pw}.min_load_pct") from None
        if not p.is_finite() or p < 0 or p > 100:
            raise ValidationError(f"min_load_pct must be 0..100, got {pct}", file=file, field=f"{pw}.min_load_pct")
        if i == 0 and p != 0:
            raise ValidationError("the first point of a heat-rate curve is at min_load_pct 0", file=file,
                                  field=f"{pw}.min_load_pct")
        if steps and p <= steps[-1].min_load_pct:
            raise ValidationError("min_load_pct must increase from point to point", file=file,
                                  field=f"{pw}.min_load_pct")
        steps.append(HeatRateStep(p, heat_rate_milli(hr, where=f"{pw}.heat_rate_mmbtu_per_mwh", file=file)))
    return tuple(steps)


def site_config(site: Site, *, where: str | None = None, file: str | None = None) -> SiteCarbon:
    """The carbon configuration of a traced site; ``ValidationError`` naming the site and
    channel (and, from a registry document, ``file`` and the field path under ``where``)."""
    base = where or f"site {site.site_id}"
    ba = site.balancing_authority
    if ba is None or not is_balancing_authority(ba):
        raise ValidationError(f"site {site.site_id}: unknown balancing authority {ba!r} (an EIA code "
                              "such as ERCO, PJM, CISO: engine.carbon.balancing)", file=file,
                              field=f"{base}.balancing_authority")
    fs = factor_set()
    combustion, clean = [], []
    roles: dict[str, list[str]] = {k: [] for k in ("storage_charge", "storage_discharge", "grid_import",
                                                   "grid_export", "load")}
    for name in sorted(site.channels):
        c = site.channels[name]
        cw = f"{base}.channels.{name}"
        if c.kind in roles:
            roles[c.kind].append(name)
            continue
        if c.kind != "generation":
            continue                                   # fuel meters: read through their generator
        resource = c.resource or ""
        fuel = c.fuel or COMBUSTION_RESOURCES.get(resource)
        if c.carbon_free is True and c.fuel:
            raise ValidationError(f"site {site.site_id} channel {name}: a channel with a fuel is not "
                                  "carbon-free", file=file, field=f"{cw}.carbon_free")
        if fuel is not None and c.carbon_free is not True:
            if fuel not in fs.fuels:
                raise ValidationError(f"site {site.site_id} channel {name}: unknown fuel {fuel!r}; the factor "
                                      f"set {fs.ref} has {', '.join(sorted(fs.fuels))}", file=file,
                                      field=f"{cw}.fuel")
            hr = (heat_rate_milli(c.heat_rate_mmbtu_per_mwh, where=f"{cw}.heat_rate_mmbtu_per_mwh", file=file)
                  if c.heat_rate_mmbtu_per_mwh is not None else None)
            curve = _curve(c.heat_rate_curve, cw, file) if c.heat_rate_curve else None
            if curve and not c.nameplate_kw:
                raise ValidationError(f"site {site.site_id} channel {name}: a heat-rate curve needs the "
                                      "channel's nameplate_kw (load fraction = energy / nameplate energy)",
                                      file=file, field=f"{cw}.nameplate_kw")
            if c.fuel_channel is not None:
                fc = site.channels.get(c.fuel_channel)
                if fc is None or fc.kind != "fuel":
                    raise ValidationError(f"site {site.site_id} channel {name}: fuel_channel "
                                          f"{c.fuel_channel!r} is not a channel of kind fuel", file=file,
                                          field=f"{cw}.fuel_channel")
            if hr is None and curve is None and c.fuel_channel is None:
                raise ValidationError(
                    f"site {site.site_id} channel {name}: a combustion channel ({resource or fuel}) needs a "
                    "metered fuel_channel, a heat_rate_mmbtu_per_mwh or a heat_rate_curve to trace its "
                    "Scope 1 emissions", file=file, field=f"{cw}.heat_rate_mmbtu_per_mwh")
            combustion.append(CombustionChannel(name, resource or fuel, fuel, hr, curve, c.fuel_channel,
                                                c.nameplate_kw))
        elif c.carbon_free is True or (c.carbon_free is None and resource in CARBON_FREE_RESOURCES):
            clean.append(CleanChannel(name, resource or "carbon_free",
                                      CARBON_FREE_RESOURCES.get(resource, "other"), c.nameplate_kw))
        else:
            raise ValidationError(
                f"site {site.site_id} channel {name}: cannot tell whether generation resource "
                f"{resource or '(none)'!r} burns fuel; set fuel: <{'|'.join(sorted(fs.fuels))}> or "
                "carbon_free: true|false", file=file, field=f"{cw}.resource")
    return SiteCarbon(site.site_id, site.timezone, ba, tuple(combustion), tuple(clean),
                      *(tuple(roles[k]) for k in ("storage_charge", "storage_discharge", "grid_import",
                                                  "grid_export", "load")))


__all__ = ["COMBUSTION_RESOURCES", "CARBON_FREE_RESOURCES", "HeatRateStep", "CombustionChannel",
           "CleanChannel", "SiteCarbon", "site_config"]
