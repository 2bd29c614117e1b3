"""Market resources: what a site is to an ISO, declared in the site registry's ``market`` block.

A site registry entry may list the resources the ISO settles for it::

    market:
      iso: ERCOT
      node: HB_NORTH                 # the site's pricing node (export_share, vppa)
      resources:
        TXDC1_CC1:                   # resource id as the ISO names it
          settlement_point: TXDC1_RN # where it settles (resource node / pnode / PNode)
          kind: generator            # generator | storage | load | settlement_point
          hub: HB_NORTH              # optional: its trading hub
          qse: QTEXAS                # optional: the QSE / market participant / SC
          inject: [exp]              # optional; default: the site's grid_export channels
          withdraw: [imp]            # optional; default: the site's grid_import channels
          load_resource: TXDC1_LD1   # optional (storage before ERCOT RTC+B)

The metered quantity the ISO settles for a resource is its **net injection at the
point of interconnection**: ``sum(inject channels) - sum(withdraw channels)``. For a
behind-the-meter plant that feeds a data center that is grid export minus grid
import, the default. ``kind: settlement_point`` is a position without a meter (a
virtual or hub trade): it has awards but no metered energy.

Awards and statements name ``resource_id``; one not declared here for the ISO is an
unknown reference (``storage.ingest`` rejects the file, naming file, line and field).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ValidationError

ISOS = ("ERCOT", "PJM", "CAISO")
RESOURCE_KINDS = ("generator", "storage", "load", "settlement_point")
#: the prevailing-time zone of each ISO's operating day
ISO_TIMEZONES = {"ERCOT": "America/Chicago", "PJM": "America/New_York",
                 "CAISO": "America/Los_Angeles"}


@dataclass(frozen=True)
class MarketResource:
    """One ISO resource of a site."""
    resource_id: str
    iso: str
    site_id: str
    settlement_point: str
    kind: str = "generator"
    hub: str | None = None
    qse: str | None = None
    inject: tuple[str, ...] = ()          # channel names (resolved defaults)
    withdraw: tuple[str, ...] = ()
    load_resource: str | None = None

    @property
    def metered(self) -> bool:
        return self.kind != "settlement_point"

    def to_doc(self) -> dict:
        d: dict = {"settlement_point": self.settlement_point, "kind": self.kind,
                   "inject": list(self.inject), "withdraw": list(self.withdraw)}
        for k in ("hub", "qse", "load_resource"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


def _names(value, where: str, source: str, channels: dict) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("expected a list of channel names", file=source, field=where)
    for v in value:
        if v not in channels:
            raise ValidationError(f"unknown channel {v!r}; the site has "
                                  f"{', '.join(sorted(channels))}", file=source, field=where)
    return tuple(value)


def parse_resources(market: dict, site_id: str, channels: dict, where: str,
                    source: str) -> tuple[MarketResource, ...]:
    """The ``market.resources`` mapping of one site entry -> resources (validated).

    ``channels`` maps channel name -> object with a ``kind`` (``engine.sites.Channel``)."""
    raw = market.get("resources")
    if raw is None:
        return ()
    iso = market.get("iso")
    if iso not in ISOS:
        raise ValidationError(f"market.iso must be one of {', '.join(ISOS)} when resources are "
                              f"declared; got {iso!r}", file=source, field=f"{where}.iso")
    if not isinstance(raw, dict):
        raise ValidationError("expected a mapping of resource id -> resource", file=source,
                              field=f"{where}.resources")
    out = []
    for rid, r in sorted(raw.items()):
        rw = f"{where}.resources.{rid}"
        if not isinstance(rid, str) or not rid or not isinstance(r, dict):
            raise ValidationError("expected a resource id and a mapping", file=source, field=rw)
        unknown = sorted(set(r) - {"settlement_point", "kind", "hub", "qse", "inject",
                                   "withdraw", "load_resource"})
        if unknown:
            raise ValidationError(f"unknown field(s) {', '.join(unknown)}", file=source,
                                  field=f"{rw}.{unknown[0]}")
        sp = r.get("settlement_point")
        if not isinstance(sp, str) or not sp:
            raise ValidationError("a settlement_point is required", file=source,
                                  field=f"{rw}.settlement_point")
        kind = r.get("kind", "generator")
        if kind not in RESOURCE_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(RESOURCE_KINDS)}; got {kind!r}",
                                  file=source, field=f"{rw}.kind")
        if kind == "settlement_point":
            inject: tuple[str, ...] = ()
            withdraw: tuple[str, ...] = ()
        else:
            default_in = tuple(sorted(n for n, c in channels.items() if c.kind == "grid_export"))
            default_out = tuple(sorted(n for n, c in channels.items() if c.kind == "grid_import"))
            inject = (_names(r["inject"], f"{rw}.inject", source, channels) if "inject" in r
                      else default_in)
            withdraw = (_names(r["withdraw"], f"{rw}.withdraw", source, channels)
                        if "withdraw" in r else default_out)
            if not inject and not withdraw:
                raise ValidationError("no metered channel: give inject/withdraw or add grid_export/"
                                      "grid_import channels", file=source, field=f"{rw}.inject")
        opt = {}
        for k in ("hub", "qse", "load_resource"):
            v = r.get(k)
            if v is not None and (not isinstance(v, str) or not v):
                raise ValidationError("expected a non-empty string", file=source, field=f"{rw}.{k}")
            opt[k] = v
        out.append(MarketResource(rid, iso, site_id, sp, kind, inject=inject, withdraw=withdraw,
                                  **opt))
    return tuple(out)


def resource_index(sites: dict) -> dict[tuple[str, str], MarketResource]:
    """``(iso, resource_id) -> resource`` over a site registry (``engine.sites.Site``
    values); a resource id declared by two sites of one ISO is a ``ValidationError``."""
    out: dict[tuple[str, str], MarketResource] = {}
    for sid in sorted(sites):
        for r in getattr(sites[sid], "resources", ()):
            key = (r.iso, r.resource_id)
            if key in out:
                raise ValidationError(f"resource {r.resource_id!r} of {r.iso} is declared by sites "
                                      f"{out[key].site_id!r} and {sid!r}", field="market.resources")
            out[key] = r
    return out


__all__ = ["ISOS", "RESOURCE_KINDS", "ISO_TIMEZONES", "MarketResource", "parse_resources",
           "resource_index"]
