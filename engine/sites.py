"""The site registry model: sites, their channels, and validation of the document.

A site is a metering location with a time zone, an optional market node, and
named channels. A channel's ``kind`` fixes its direction, so ``energy_wh`` is
always >= 0 in storage:

=====================  ============================================
kind                   meaning
=====================  ============================================
``generation``         energy produced by a resource on site
``storage_discharge``  energy out of a battery
``storage_charge``     energy into a battery
``load``               consumption (the data center)
``grid_import``        energy bought from the grid
``grid_export``        energy sold to the grid
``fuel``               a fuel meter: the heat input (HHV) of a combustion
                       channel, in Wh (1 MMBtu = 293.071 kWh); not electricity
=====================  ============================================

A site may set the meter-data completeness limits its settlements are held to
(``completeness: {max_estimated_pct: "10", max_missing_pct: "0"}``, percent of the
billed intervals); a contract's own limits win over them, and the defaults of
``engine.completeness`` apply to whatever neither sets.

Carbon tracing (``engine.carbon``) reads a few more fields, all optional: the site's
``balancing_authority`` (the EIA code of the grid it imports from, e.g. ``ERCO``: a site
that names one is traced, and its channels must then classify, ``engine.carbon.classify``)
and, on a generation channel, ``fuel`` (a fuel of the factor set: makes it a combustion
channel), ``fuel_channel`` (a ``fuel`` channel metering its heat input),
``heat_rate_curve`` (a step function of load: ``[{min_load_pct, heat_rate_mmbtu_per_mwh}]``)
or ``carbon_free`` (true/false, for a resource the carbon tables do not know).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ValidationError

CHANNEL_KINDS = ("generation", "storage_discharge", "storage_charge", "load",
                 "grid_import", "grid_export", "fuel")


_PCT = re.compile(r"^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)$")
LIMIT_FIELDS = ("max_estimated_pct", "max_missing_pct")


@dataclass(frozen=True)
class CompletenessLimits:
    """The most estimated and missing intervals a billed site-month may hold, each in
    percent of its intervals (0..100, exact); ``None``: not set at this level (the
    next level decides: contract, then site, then ``engine.completeness`` defaults)."""
    max_estimated_pct: Decimal | None = None
    max_missing_pct: Decimal | None = None

    @classmethod
    def parse(cls, raw: Any) -> "CompletenessLimits":
        """From a document's ``completeness`` mapping. Percentages are decimal strings
        (``"2.5"``) or integers; raises ``ValueError(field or None, message)``."""
        if not isinstance(raw, dict):
            raise ValueError(None, f"expected a mapping with {' and/or '.join(LIMIT_FIELDS)}")
        unknown = sorted(set(map(str, raw)) - set(LIMIT_FIELDS))
        if unknown:
            raise ValueError(unknown[0], f"unknown field (known: {', '.join(LIMIT_FIELDS)})")
        values: dict[str, Decimal] = {}
        for name, v in raw.items():
            text = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            if not isinstance(text, str) or not _PCT.match(text):
                hint = " (quote decimals: \"2.5\")" if isinstance(v, float) else ""
                raise ValueError(name, f"expected a percentage 0..100 as a decimal string or an "
                                       f"integer, got {v!r}{hint}")
            values[name] = Decimal(text)
        return cls(**values)

    def to_doc(self) -> dict[str, str]:
        """The fields set, as decimal strings (the inverse of :meth:`parse`)."""
        return {k: str(v) for k in LIMIT_FIELDS if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str
    resource: str | None = None
    nameplate_kw: float | None = None
    heat_rate_mmbtu_per_mwh: float | None = None
    #: carbon tracing (``engine.carbon``): the fuel burnt (a combustion channel) ...
    fuel: str | None = None
    #: ... its metered heat input (a channel of kind ``fuel``) ...
    fuel_channel: str | None = None
    #: ... or a heat rate by load: ((min load %, heat rate MMBtu/MWh), ...) as decimal text
    heat_rate_curve: tuple[tuple[str, str], ...] | None = None
    #: a generation channel's carbon-free flag where its resource does not say it
    carbon_free: bool | None = None


@dataclass(frozen=True)
class Site:
    site_id: str
    timezone: str
    channels: dict[str, Channel]
    iso: str | None = None
    node: str | None = None
    extra: dict = field(default_factory=dict)
    #: ISO resources settled for this site (``market.resources``; ``engine.market.resources``)
    resources: tuple = ()
    #: meter-data completeness limits of its settlements (``engine.completeness``)
    completeness: CompletenessLimits | None = None
    #: the EIA code of the grid it imports from; carbon-traced when set (``engine.carbon``)
    balancing_authority: str | None = None

    def channel(self, name: str) -> Channel:
        return self.channels[name]


def parse_sites(doc: dict, source: str = "sites") -> dict[str, Site]:
    """Validate a registry document (``{"sites": [...]}``) and build the models.

    Errors name the file and the field path, e.g. ``sites[0].channels.gt1.kind``.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
        raise ValidationError("expected a top-level 'sites' list", file=source, field="sites")
    out: dict[str, Site] = {}
    for i, s in enumerate(doc["sites"]):
        where = f"sites[{i}]"
        if not isinstance(s, dict):
            raise ValidationError("expected a mapping", file=source, field=where)
        sid = s.get("site_id")
        if not isinstance(sid, str) or not sid:
            raise ValidationError("site_id is required", file=source, field=f"{where}.site_id")
        if sid in out:
            raise ValidationError(f"duplicate site_id {sid!r}", file=source, field=f"{where}.site_id")
        tz = s.get("timezone")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {tz!r}", file=source,
                                  field=f"{where}.timezone") from None
        market = s.get("market") or {}
        chans = s.get("channels")
        if not isinstance(chans, dict) or not chans:
            raise ValidationError("at least one channel is required", file=source,
                                  field=f"{where}.channels")
        channels: dict[str, Channel] = {}
        for name, c in chans.items():
            cw = f"{where}.channels.{name}"
            if not isinstance(c, dict):
                raise ValidationError("expected a mapping", file=source, field=cw)
            kind = c.get("kind")
            if kind not in CHANNEL_KINDS:
                raise ValidationError(f"kind must be one of {', '.join(CHANNEL_KINDS)}; got {kind!r}",
                                      file=source, field=f"{cw}.kind")
            npk = c.get("nameplate_kw")
            if npk is not None and (not isinstance(npk, (int, float)) or npk <= 0):
                raise ValidationError("nameplate_kw must be a positive number", file=source,
                                      field=f"{cw}.nameplate_kw")
            hr = c.get("heat_rate_mmbtu_per_mwh")
            channels[str(name)] = Channel(str(name), kind, c.get("resource"),
                                          float(npk) if npk is not None else None,
                                          float(hr) if hr is not None else None,
                                          **_carbon_fields(c, cw, source))
        limits = None
        if s.get("completeness") is not None:
            try:
                limits = CompletenessLimits.parse(s["completeness"])
            except ValueError as exc:
                fld, msg = exc.args
                raise ValidationError(msg, file=source, field=f"{where}.completeness"
                                      + (f".{fld}" if fld else "")) from None
        from .market.resources import parse_resources
        resources = parse_resources(market, sid, channels, f"{where}.market", source)
        ba = s.get("balancing_authority")
        if ba is not None and not isinstance(ba, str):
            raise ValidationError("balancing_authority must be an EIA balancing authority code",
                                  file=source, field=f"{where}.balancing_authority")
        site = Site(sid, str(tz), channels, market.get("iso"), market.get("node"),
                    resources=resources, completeness=limits, balancing_authority=ba)
        if ba is not None:
            from .carbon.classify import site_config
            site_config(site, where=where, file=source)        # a traced site must classify
        out[sid] = site
    return out


_CARBON_FIELDS = ("fuel", "fuel_channel", "heat_rate_curve", "carbon_free")


def _carbon_fields(c: dict, where: str, source: str) -> dict:
    """The carbon-tracing fields of a channel entry, type-checked (their meaning is
    checked by ``engine.carbon.classify`` for traced sites)."""
    out: dict[str, Any] = {}
    for name in ("fuel", "fuel_channel"):
        v = c.get(name)
        if v is not None and (not isinstance(v, str) or not v):
            raise ValidationError(f"{name} must be a name", file=source, field=f"{where}.{name}")
        out[name] = v
    cf = c.get("carbon_free")
    if cf is not None and not isinstance(cf, bool):
        raise ValidationError("carbon_free must be true or false", file=source,
                              field=f"{where}.carbon_free")
    out["carbon_free"] = cf
    curve = c.get("heat_rate_curve")
    if curve is not None:
        if not isinstance(curve, list) or not curve:
            raise ValidationError("heat_rate_curve must be a list of {min_load_pct, "
                                  "heat_rate_mmbtu_per_mwh}", file=source, field=f"{where}.heat_rate_curve")
        points = []
        for i, p in enumerate(curve):
            pw = f"{where}.heat_rate_curve[{i}]"
            if not isinstance(p, dict) or set(p) != {"min_load_pct", "heat_rate_mmbtu_per_mwh"}:
                raise ValidationError("expected {min_load_pct, heat_rate_mmbtu_per_mwh}", file=source,
                                      field=pw)
            vals = []
            for k in ("min_load_pct", "heat_rate_mmbtu_per_mwh"):
                v = p[k]
                if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                    raise ValidationError("expected a decimal number", file=source, field=f"{pw}.{k}")
                vals.append(repr(v) if isinstance(v, float) else str(v))
            points.append((vals[0], vals[1]))
        out["heat_rate_curve"] = tuple(points)
    return out


def sites_to_doc(sites: dict[str, Site]) -> dict:
    """Inverse of ``parse_sites`` (canonical order, for storage and hashing)."""
    docs = []
    for sid in sorted(sites):
        s = sites[sid]
        chans = {}
        for name in sorted(s.channels):
            c = s.channels[name]
            d: dict[str, Any] = {"kind": c.kind}
            if c.resource is not None:
                d["resource"] = c.resource
            if c.nameplate_kw is not None:
                d["nameplate_kw"] = c.nameplate_kw
            if c.heat_rate_mmbtu_per_mwh is not None:
                d["heat_rate_mmbtu_per_mwh"] = c.heat_rate_mmbtu_per_mwh
            for f in _CARBON_FIELDS:            # only when set: older documents keep their bytes
                v = getattr(c, f)
                if v is not None:
                    d[f] = ([{"min_load_pct": p, "heat_rate_mmbtu_per_mwh": h} for p, h in v]
                            if f == "heat_rate_curve" else v)
            chans[name] = d
        entry = {"site_id": sid, "timezone": s.timezone, "channels": chans}
        if s.iso or s.node:
            entry["market"] = {"iso": s.iso, "node": s.node}
        if s.resources:
            market: dict = {"iso": s.iso, "node": s.node,
                            "resources": {r.resource_id: r.to_doc() for r in s.resources}}
            entry["market"] = market
        if s.completeness is not None and s.completeness.to_doc():
            entry["completeness"] = s.completeness.to_doc()
        if s.balancing_authority is not None:
            entry["balancing_authority"] = s.balancing_authority
        docs.append(entry)
    return {"sites": docs}
