"""Contract documents: model, JSON-Schema validation, amendments and version selection.

The document (YAML or JSON -> dict), one per contract *version*::

    contract_id: PPA-TX-DC1          # [A-Za-z0-9_.-], <= 64 chars
    version: 2                       # >= 1; an amendment is the next version
    effective_from: 2027-07-01       # local date (contract tz) this version applies from;
                                     # version 1's is term.start
    parties: {seller: "Lone Star Onsite Power LLC", buyer: "Prairie Compute Inc."}
    sites: [TX-DC1]                  # site_ids of the site registry
    timezone: America/Chicago        # billing periods, TOU and amendment dates are local
    term: {start: 2026-01-01, end: 2045-12-31}   # local dates, both inclusive
    billing_period: month
    currency: USD
    delivered:                       # delivered energy per interval, per site (Wh):
      add: [kind:generation, bess_dis]           #   max(0, sum(add) - sum(subtract)),
      subtract: [bess_chg]                       #   then min(., sum(cap_at)) if cap_at
      cap_at: [kind:load]                        #   (floor_zero: false keeps negatives)
    pricing:
      hub: {iso: ERCOT, node: HB_NORTH, market_run: RT}   # vppa (and curtailment trigger)
      site_node: {market_run: RT}    # export_share: each site's registry node, this run
    terms:                           # each {id, kind, ...}; id is the line-id prefix
      - {id: energy_fixed, kind: energy_fixed, price_usd_per_mwh: "64.00",
         escalator_pct_per_year: "2.0",
         tou: {factors: {on_peak: "1.10", off_peak: "0.90"}}}
      - {id: vppa, kind: vppa, strike_usd_per_mwh: "42.50", hedge_share: "0.75",
         negative_price_rule: zero_floor}
    completeness:                    # optional: meter-data limits of its settlements, percent
      {max_estimated_pct: "5", max_missing_pct: "0"}   # of billed intervals (engine.completeness)

Optional, for the commercial invoice (``engine.invoice``): the parties' details
(``parties.seller_details`` / ``buyer_details``: ``address`` lines, ``tax_id``,
``contact``) and an ``invoicing`` block::

    invoicing:
      issuer_id: LSOP                # invoice numbers LSOP-000001, LSOP-000002, ... (default:
                                     # derived from the seller's legal name)
      payment_terms_days: 30         # due date = issue date (or period end) + 30 days
      due_from: issue_date           # issue_date | period_end
      remittance: {bank_name: ..., account_name: ..., account_number: ...,
                   routing_number: ..., swift_bic: ..., iban: ..., reference: ...}

A channel reference is a channel name (``gt1``) or ``kind:<channel kind>`` (every
channel of that kind at the site, e.g. ``kind:generation``). Money parameters are
decimal strings (``"64.00"``) so no float ever touches a price; YAML dates are
accepted and normalised to ISO strings. The term parameters of each kind are in
``engine/terms/<kind>.py``: its docstring and its ``SCHEMA`` (a fragment of the
published schema, ``contract_schema()``, which adds it to the document and shared
definitions of ``contract_schema.json``).

Validation is against the published JSON Schema (draft 2020-12,
``contract_schema()``) with the ``jsonschema`` package, then by semantic checks (dates, zones, term
parameter ranges, cross-references). Every error names the contract, version and
field path: ``contract PPA-TX-DC1 v2: terms[1].strike_usd_per_mwh: required``.

Versions. ``effective_from`` is a local date; version ``k`` applies from local
midnight of its ``effective_from`` until local midnight of the next version's, and
the last version until the end of the term. Dates never decrease from one version
to the next; a version effective on the same date as the one before *supersedes*
it (a correction, or a price change from the term start), so of versions sharing a
date the latest applies and the others apply nowhere. Whether a version may still
be superseded (no approved invoice rests on it) is for the store to decide
(``storage.contracts``). ``versions_in_force`` turns that into UTC sub-ranges.

Price schedule. ``price_schedule`` lists a version's contract rates by contract
year, by the term kinds' own rate functions (``schedule`` of each kind's module),
for ``m2c contracts show``.

The model (``ContractVersion``, ``Term``, ``PriceNode``, ...) is defined in
``engine.contract_model``, which the term kinds import too, and re-exported here.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import numpy as np

from .canonical import canonical_json
from .contract_model import (ContractVersion, DeliveredDef, Invoicing, Parties, PartyDetails,
                             PriceNode, Term)
from .errors import ContractError, FieldError, UnknownReferenceError
from .sites import CHANNEL_KINDS, Site
from .terms import TERM_KINDS
from .terms.base import anniversary, contract_year, rate_str
from .timebase import local_midnight_us, local_month_bounds_us


# --------------------------------------------------------------------------- schema
def term_schema(kind: str) -> dict:
    """``$defs/<kind>`` of the published schema: the kind's ``SCHEMA`` fragment plus
    the fields every term has (``id``, ``kind``, ``description``), closed to others."""
    fragment = copy.deepcopy(dict(TERM_KINDS[kind].schema))
    return {"type": "object", "required": ["id", "kind", *fragment.pop("required", [])],
            "additionalProperties": False,
            "properties": {"id": {"$ref": "#/$defs/term_id"}, "kind": {"const": kind},
                           "description": {"type": "string"}, **fragment.pop("properties", {})},
            **fragment}


@lru_cache(maxsize=1)
def _schema() -> dict:
    """``contract_schema.json`` (the document and the shared ``$defs``) with the
    term kinds of ``TERM_KINDS`` added: the ``kind`` enum, one ``if kind == K then
    $defs/K`` branch per kind, and each kind's ``$defs`` entry (``term_schema``)."""
    schema = json.loads(resources.files("engine").joinpath("contract_schema.json").read_text("utf-8"))
    defs = schema["$defs"]
    term = defs["term"]
    term["properties"]["kind"] = {"enum": list(TERM_KINDS)}
    term["allOf"] = [{"if": {"required": ["kind"], "properties": {"kind": {"const": k}}},
                      "then": {"$ref": f"#/$defs/{k}"}} for k in TERM_KINDS]
    for k in TERM_KINDS:
        if k in defs:
            raise ValueError(f"term kind {k!r} collides with $defs/{k} of contract_schema.json")
        defs[k] = term_schema(k)
    return schema


def contract_schema() -> dict:
    """The published JSON Schema (draft 2020-12) of a contract version document."""
    return copy.deepcopy(_schema())


def _fmt_path(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _messages(err: jsonschema.ValidationError) -> list[tuple[tuple, str]]:
    """One schema violation as (field path, short message) pairs, naming the field."""
    path, inst = tuple(err.absolute_path), err.instance
    if err.validator == "required":
        return [(path + (r,), "required") for r in err.validator_value if r not in inst]
    if err.validator == "additionalProperties":
        known = err.schema.get("properties", {})
        return [(path + (k,), "unknown field") for k in inst if k not in known]
    if err.validator == "type":
        return [(path, f"expected {err.validator_value}, got {type(inst).__name__} {inst!r}"[:160])]
    if err.validator == "enum":
        return [(path, f"must be one of {', '.join(map(str, err.validator_value))}; got {inst!r}")]
    if err.validator == "const":
        return [(path, f"must be {err.validator_value!r}; got {inst!r}")]
    if err.validator == "pattern":
        return [(path, f"{inst!r} does not match {err.validator_value}")]
    if err.validator == "format":
        return [(path, f"not a valid {err.validator_value}: {inst!r}")]
    if err.validator in ("minimum", "maximum"):
        op = ">=" if err.validator == "minimum" else "<="
        return [(path, f"must be {op} {err.validator_value}; got {inst}")]
    if err.validator == "minLength":
        return [(path, "must not be empty")]
    if err.validator == "minItems":
        return [(path, f"needs at least {err.validator_value} item(s)")]
    if err.validator == "uniqueItems":
        return [(path, "items must be unique")]
    return [(path, err.message)]


def _normalise(obj: Any) -> Any:
    """YAML scalars -> JSON types: dates to ISO strings; recurse into containers."""
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {str(k): _normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    return obj


def _fail(doc: Any, source: str, field: str, message: str,
          problems: list[str] | None = None) -> ContractError:
    cid = doc.get("contract_id", "?") if isinstance(doc, dict) else "?"
    ver = doc.get("version", "?") if isinstance(doc, dict) else "?"
    prefix = "" if source == "contract" else f"{source}: "
    err = ContractError(f"{prefix}contract {cid} v{ver}: {field}: {message}")
    err.file, err.field, err.problems = source, field, problems or []  # type: ignore[attr-defined]
    return err


def schema_errors(doc: dict) -> list[tuple[str, str]]:
    """All (field path, message) schema violations of a normalised document."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [(_fmt_path(p), m) for e in errors for p, m in _messages(e)]


# --------------------------------------------------------------------------- parsing
def parse_contract(doc: dict, source: str = "contract") -> ContractVersion:
    """Validate a contract-version document and build the frozen model.

    Raises ``ContractError`` whose message names ``source`` (unless it is the
    default), the contract id and version, and the field path of the first problem;
    ``.problems`` lists every schema problem found.
    """
    if not isinstance(doc, dict):
        raise _fail({}, source, "(document)", "expected a mapping")
    doc = _normalise(doc)
    errs = schema_errors(doc)
    if errs:
        raise _fail(doc, source, errs[0][0], errs[0][1], [f"{p}: {m}" for p, m in errs])
    try:
        ZoneInfo(doc["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(doc, source, "timezone", f"unknown time zone {doc['timezone']!r}") from None
    start = date.fromisoformat(doc["term"]["start"])
    end = date.fromisoformat(doc["term"]["end"])
    eff = date.fromisoformat(doc["effective_from"])
    if end < start:
        raise _fail(doc, source, "term.end", f"{end} is before term.start {start}")
    if not start <= eff <= end:
        raise _fail(doc, source, "effective_from", f"{eff} is outside the term {start}..{end}")
    if doc["version"] == 1 and eff != start:
        raise _fail(doc, source, "effective_from", f"version 1 must take effect at term.start {start}")
    d = doc["delivered"]
    delivered = DeliveredDef(tuple(d["add"]), tuple(d.get("subtract", ())), tuple(d.get("cap_at", ())),
                             bool(d.get("floor_zero", True)))
    pricing = doc.get("pricing", {})
    hub = PriceNode(**pricing["hub"]) if "hub" in pricing else None
    site_run = pricing.get("site_node", {}).get("market_run")
    terms: list[Term] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(doc["terms"]):
        where = f"terms[{i}]"
        if raw["id"] in seen:
            raise _fail(doc, source, f"{where}.id",
                        f"duplicate term id {raw['id']!r} (also terms[{seen[raw['id']]}])")
        seen[raw["id"]] = i
        try:
            params = TERM_KINDS[raw["kind"]].parse(raw, where)
        except FieldError as exc:
            raise _fail(doc, source, exc.path, exc.message) from None
        terms.append(Term(raw["id"], raw["kind"], params, raw.get("description", "")))
    cv = ContractVersion(
        contract_id=doc["contract_id"], version=doc["version"], effective_from=eff,
        parties=_parties(doc["parties"]), sites=tuple(doc["sites"]),
        timezone=doc["timezone"], term_start=start, term_end=end, delivered=delivered,
        terms=tuple(terms), hub=hub, site_node_market_run=site_run,
        description=doc.get("description", ""), invoicing=_invoicing(doc.get("invoicing")))
    # cross-term checks: references to other terms and to pricing nodes
    for i, t in enumerate(cv.terms):
        where = f"terms[{i}]"
        for path, msg in TERM_KINDS[t.kind].check(t, cv, where):
            raise _fail(doc, source, path, msg)
    return cv


def _party_details(raw: dict | None) -> PartyDetails | None:
    if not raw:
        return None
    return PartyDetails(tuple(raw.get("address", ())), raw.get("tax_id"), raw.get("contact"))


def _parties(raw: dict) -> Parties:
    return Parties(raw["seller"], raw["buyer"], _party_details(raw.get("seller_details")),
                   _party_details(raw.get("buyer_details")))


def _invoicing(raw: dict | None) -> Invoicing | None:
    """The optional ``invoicing`` block (schema-checked): numbering, payment terms, remittance."""
    if not raw:
        return None
    return Invoicing(raw.get("issuer_id"), raw.get("payment_terms_days"),
                     raw.get("due_from", "issue_date"), tuple(raw.get("remittance", {}).items()))


def validate_contract_sites(cv: ContractVersion, sites: dict[str, Site]) -> None:
    """Every site exists and every channel reference resolves at every site.

    Raises ``UnknownReferenceError`` naming the contract, version and field.
    """
    for i, sid in enumerate(cv.sites):
        if sid not in sites:
            raise UnknownReferenceError(f"{cv.label}: sites[{i}]: unknown site {sid!r}")
    fields: list[tuple[str, str]] = []
    for key in ("add", "subtract", "cap_at"):
        fields += [(f"delivered.{key}[{j}]", r) for j, r in enumerate(getattr(cv.delivered, key))]
    for i, t in enumerate(cv.terms):
        for fld, ref in TERM_KINDS[t.kind].refs(t.params):
            fields.append((f"terms[{i}].{fld}", ref))
    for sid in cv.sites:
        site = sites[sid]
        for fld, ref in fields:
            if ref.startswith("kind:"):
                if ref[5:] not in CHANNEL_KINDS:
                    raise UnknownReferenceError(f"{cv.label}: {fld}: unknown channel kind {ref!r}")
            elif ref not in site.channels:
                raise UnknownReferenceError(
                    f"{cv.label}: {fld}: site {sid} has no channel {ref!r} "
                    f"(channels: {', '.join(sorted(site.channels))})")
        if any(t.kind == "export_share" for t in cv.terms) and not (site.iso and site.node):
            raise UnknownReferenceError(
                f"{cv.label}: sites: site {sid} has no market node (export_share prices at it)")


def check_amendments(versions: list[ContractVersion]) -> None:
    """A contract's versions form a valid amendment chain.

    Same contract_id, time zone and term start; versions 1..N consecutive;
    effective_from never decreasing (an equal date supersedes the earlier version
    from that date); version 1 effective at term.start. Raises ``ContractError``
    naming the version and field.
    """
    if not versions:
        raise ContractError("no contract versions")
    vs = sorted(versions, key=lambda v: v.version)
    first = vs[0]
    for i, v in enumerate(vs):
        if v.contract_id != first.contract_id:
            raise ContractError(f"{v.label}: contract_id: differs from {first.contract_id!r}")
        if v.version != i + 1:
            what = "duplicate" if i and v.version == vs[i - 1].version else "missing version"
            raise ContractError(f"{v.label}: version: {what} (versions must be 1..N consecutive)")
        if v.timezone != first.timezone:
            raise ContractError(f"{v.label}: timezone: an amendment cannot change the time zone "
                                f"({first.timezone} in v1)")
        if v.term_start != first.term_start:
            raise ContractError(f"{v.label}: term.start: an amendment cannot move the term start")
        if i == 0 and v.effective_from != v.term_start:
            raise ContractError(f"{v.label}: effective_from: version 1 must take effect at "
                                f"term.start {v.term_start}")
        if i and v.effective_from < vs[i - 1].effective_from:
            raise ContractError(
                f"{v.label}: effective_from: {v.effective_from} is before v{vs[i - 1].version} "
                f"(effective {vs[i - 1].effective_from}); an amendment takes effect on or after "
                f"the date of the version before it")


def canonical_contract_json(doc: dict) -> bytes:
    """The canonical bytes of a contract document (YAML scalars normalised first)."""
    return canonical_json(_normalise(doc))


def contract_sha256(doc: dict) -> str:
    """SHA-256 of the canonical JSON of a contract document (sorted keys, no spaces)."""
    return hashlib.sha256(canonical_contract_json(doc)).hexdigest()


def superseded_by(versions: list[ContractVersion], new: ContractVersion) -> list[ContractVersion]:
    """The versions that ``new`` (the next version) supersedes: those effective on
    its date, which then apply nowhere. Empty for an amendment from a later date."""
    return [v for v in versions if v.version < new.version and v.effective_from == new.effective_from]


def versions_in_force(versions: list[ContractVersion], start_us: int, end_us: int
                      ) -> list[tuple[ContractVersion, int, int]]:
    """Which version applies to which UTC sub-range of ``[start_us, end_us)``.

    Version boundaries are local midnights of ``effective_from`` in the contract
    zone; nothing applies outside the term. On each day the version in force is
    the latest one effective on or before it, so of versions sharing a date only
    the latest appears. The term end is the last version's ``term_end`` (an
    amendment may extend or shorten the term).
    """
    vs = sorted(versions, key=lambda v: v.version)
    if not vs:
        return []
    term_end = vs[-1].term_bounds_us()[1]
    out = []
    later = term_end                       # where the first later version takes over
    for v in reversed(vs):
        lo = local_midnight_us(v.effective_from, v.timezone)
        s, e = max(lo, start_us), min(later, term_end, end_us)
        if s < e:
            out.append((v, s, e))
        later = min(later, lo)
    return out[::-1]


def price_schedule(cv: ContractVersion) -> dict:
    """The contract rates of version ``cv`` by contract year, from the year of its
    ``effective_from`` to the term end::

        {"columns": [{"name": "energy_fixed:on_peak", "unit": "USD/MWh"}, ...],
         "years": [{"contract_year": 1, "from": "2026-01-01", "to": "2026-12-31",
                    "rates": {"energy_fixed:on_peak": "70.40", ...}}, ...]}

    Each term kind lists its rates (``schedule`` in its module) with the functions
    its settlement applies, so an escalated energy price is the rate an invoice of
    that year carries (1e-6 USD/MWh, half-even, once). Dates are local and
    inclusive: the first row starts at ``effective_from``, the last ends at the term
    end. Kinds priced on market data or an index list nothing.
    """
    epoch = date(1970, 1, 1).toordinal()
    first, last = (int(y) for y in contract_year(
        np.array([cv.effective_from.toordinal() - epoch, cv.term_end.toordinal() - epoch]), cv.term_start))
    columns: dict[str, str] = {}
    years = []
    for y in range(first, last + 1):
        rates: dict[str, str] = {}
        for t in cv.terms:
            for name, rate, unit in TERM_KINDS[t.kind].schedule(t, cv, y):
                columns.setdefault(name, unit)
                rates[name] = rate_str(rate)
        end = min(anniversary(cv.term_start, y) - timedelta(days=1), cv.term_end)
        start = max(anniversary(cv.term_start, y - 1), cv.effective_from)
        years.append({"contract_year": y, "from": start.isoformat(), "to": end.isoformat(), "rates": rates})
    return {"columns": [{"name": n, "unit": u} for n, u in columns.items()], "years": years}


def active_in_period(versions: list[ContractVersion], period: str) -> bool:
    """Does any version apply to part of the local billing month ``period``?"""
    if not versions:
        return False
    b0, b1 = local_month_bounds_us(period, versions[0].timezone)
    return bool(versions_in_force(versions, b0, b1))


def version_at_period_end(versions: list[ContractVersion], period: str) -> ContractVersion:
    """The version in force on the last local instant of ``period`` within the term.

    Period-level terms (capacity, min_delivery, take_or_pay) use this version.
    """
    b0, b1 = local_month_bounds_us(period, versions[0].timezone)
    vif = versions_in_force(versions, b0, b1)
    if not vif:
        raise ContractError(f"contract {versions[0].contract_id}: not in force in {period}")
    return vif[-1][0]


__all__ = [
    "Parties", "Term", "DeliveredDef", "PriceNode", "ContractVersion", "contract_schema", "term_schema",
    "schema_errors", "parse_contract", "validate_contract_sites", "check_amendments",
    "contract_sha256", "canonical_contract_json", "versions_in_force", "superseded_by", "active_in_period",
    "version_at_period_end", "price_schedule",
]
