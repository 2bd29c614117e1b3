"""Checking a scenario against what is stored, before any work: every contract, term,
site, channel, index, price series and curve a variant names must exist where it
applies, and every site a variant changes must be one the engine can rebalance.

The caller (``jobs.scenario``) gathers :class:`References` from the stores (the base
contracts' documents and parsed versions, the site registry, the series and indices
the base reads over its range, the stored curves); :func:`check_references` is pure
and raises ``ValidationError`` naming the variant and the field of the first
problem, with every problem in ``problems``. A contract op is checked by applying it
and parsing the result (so a term's own validation speaks).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..contract import ContractVersion
from ..delivered import resolve_refs
from ..errors import FieldError, ValidationError
from ..sites import Site
from .apply import variant_contracts
from .battery import BatteryOp
from .document import Scenario, Variant
from .exports import ExportCap, NoNegativeExport
from .indices import IndexScale, IndexShift
from .meter import AddCapacity, Outage, Scale, nameplate_kw
from .ops import SeriesSelector
from .prices import Replace
from .site import balance_problem, grid_channels


@dataclass(frozen=True)
class References:
    docs: dict[str, list[dict]]                       # base contract id -> version documents
    versions: dict[str, list[ContractVersion]]        # ... parsed
    sites: dict[str, Site]                            # the site registry
    price_keys: frozenset[tuple[str, str, str]]       # series the base contracts read
    indices: frozenset[str]                           # indices the base contracts read
    curves: frozenset[str] | None = None              # stored curve names (None: unchecked)
    timezones: dict[str, frozenset[str]] = field(default_factory=dict)   # site -> contract zones

    @property
    def base_sites(self) -> list[str]:
        return sorted({s for vs in self.versions.values() for cv in vs for s in cv.sites})


def _label(v: Variant) -> str:
    return f"sweep variant {v.name!r}" if v.where.startswith("sweep") else f"variant {v.name!r}"


def _problems(v: Variant, refs: References, memo: dict, tmemo: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        variant_contracts(v, refs.docs, refs.versions, refs.sites, memo)
    except FieldError as exc:
        out.append((exc.path, exc.message))
    changed_sites: set[str] = set()
    for t in v.transforms:
        if id(t) not in tmemo:                 # a sweep shares its parsed transforms
            tmemo[id(t)] = (t, _transform_problems(t, refs))
        problems, targets = tmemo[id(t)][1]
        out += problems
        changed_sites.update(targets)
    for sid in sorted(changed_sites):
        problem = balance_problem(refs.sites[sid])
        if problem:
            out.append((v.where, problem))
        zones = refs.timezones.get(sid, frozenset())
        if len(zones) > 1:
            out.append((v.where, f"site {sid} is settled by contracts in {len(zones)} time zones "
                                 f"({', '.join(sorted(zones))}); its channels can be changed in one only"))
    return out


def _transform_problems(t: Any, refs: References) -> tuple[list[tuple[str, str]], list[str]]:
    """(problems, sites the transform changes) of one transform."""
    out: list[tuple[str, str]] = []
    p, w = t.params, t.where
    sel = getattr(p, "series", None)
    if t.family == "market" and isinstance(sel, SeriesSelector):
        if not any(sel.matches(k) for k in refs.price_keys):
            seen = ", ".join("/".join(k) for k in sorted(refs.price_keys)) or "none"
            out.append((f"{w}.series", f"{sel.describe()} matches no series the base reads (it reads: {seen})"))
    if isinstance(p, Replace) and p.curve is not None and refs.curves is not None \
            and p.curve not in refs.curves:
        out.append((f"{w}.curve", f"no curve {p.curve!r} is stored (curves: "
                                  f"{', '.join(sorted(refs.curves)) or 'none'}); give its file: to upload it"))
    if isinstance(p, (IndexScale, IndexShift)) and p.index not in refs.indices:
        out.append((f"{w}.index", f"no base contract reads index {p.index!r} (indices read: "
                                  f"{', '.join(sorted(refs.indices)) or 'none'})"))
    if t.family != "site":
        return out, []
    base_sites = refs.base_sites
    targets = [p.site] if isinstance(p, BatteryOp) else (list(p.sites) if p.sites is not None else base_sites)
    unknown = [s for s in targets if s not in base_sites]
    if unknown:
        out.append((f"{w}.site", f"site {unknown[0]!r} is not settled by the base contracts "
                                 f"(base sites: {', '.join(base_sites) or 'none'})"))
        return out, []
    out += _site_op_problems(p, w, [refs.sites[s] for s in targets], p.sites is None
                             if not isinstance(p, BatteryOp) else False)
    return out, targets


def _site_op_problems(p: Any, w: str, sites: list[Site], all_sites: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(p, BatteryOp):
        try:
            p.channels(sites[0])
        except FieldError as exc:
            out.append((f"{w}.{exc.path}", exc.message))
        return out
    if isinstance(p, (Scale, AddCapacity, Outage)):
        having = [s for s in sites if resolve_refs([p.channel], s) and
                  all(n in s.channels for n in resolve_refs([p.channel], s))]
        if not having or (not all_sites and len(having) < len(sites)):
            missing = next(s for s in sites if s not in having)
            out.append((f"{w}.channel", f"site {missing.site_id} has no channel {p.channel!r} "
                                        f"(channels: {', '.join(sorted(missing.channels))})"))
        if isinstance(p, AddCapacity):
            from .site import SiteHorizon
            for s in having:
                for n in resolve_refs([p.channel], s):
                    if nameplate_kw(SiteHorizon(s, ()), n) is None:
                        out.append((f"{w}.channel", f"site {s.site_id}: channel {n} has no nameplate_kw in "
                                                    f"the site registry (add_capacity scales by it)"))
    if isinstance(p, (ExportCap, NoNegativeExport)):
        without = [s.site_id for s in sites if not grid_channels(s)[1]]
        if len(without) == len(sites) or (not all_sites and without):
            out.append((f"{w}.site", f"site {without[0]} has no grid_export channel"))
    return out


def check_references(scenario: Scenario, refs: References, source: str = "scenario") -> None:
    """Raise ``ValidationError`` (naming ``source``) for the first reference a variant
    gets wrong."""
    memo: dict = {}
    tmemo: dict = {}
    found: list[tuple[Variant, str, str]] = []
    for v in scenario.variants:
        for path, msg in _problems(v, refs, memo, tmemo):
            found.append((v, path, msg))
            if len(found) >= 50:
                break
    if found:
        v, path, msg = found[0]
        raise ValidationError(f"{_label(v)}: {msg}", file=source, field=path,
                              problems=[f"{_label(x)}: {p}: {m}" for x, p, m in found])


__all__ = ["References", "check_references"]
