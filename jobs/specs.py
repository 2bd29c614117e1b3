"""Job specifications: what a user asks the cluster to do, as validated data.

A spec is a pydantic v2 model with a ``kind`` discriminator; :data:`JobSpec` is the
union the API, the CLI and the catalog accept. Specs are frozen and canonical: list
fields that are sets in meaning (contracts, sites) are sorted and de-duplicated on
validation, so two requests that mean the same thing have the same
:func:`spec_fingerprint` (used for Idempotency-Key replay) and the same
:func:`natural_key` (used to run a month-end settlement once).

Kinds:

``settlement``
    Month-end settlement of one billing period (``YYYY-MM``, contract-local month)
    for the named contracts, or every contract active in the period (``None``).
    ``as_of`` optionally pins table data versions, e.g. ``{"meter": 7, "prices": 3}``.
    A backfill gives ``from_period`` and ``to_period`` instead of ``period``: one job
    settles each month of the range, each into its own invoices (a range of one month
    *is* ``period``: it is normalised so, and has the month-end natural key).
    ``allow_incomplete`` publishes a period whose meter data is beyond its
    completeness limits as ``estimated`` invoices instead of failing the job
    (``engine.completeness``). ``carbon`` (default on) traces carbon in the same job
    (``jobs.carbon``); off, the job settles money only (the bench compares both).
``rebill``
    Re-settle ``from_period`` .. ``to_period`` (inclusive) of one contract against the
    data as of ``as_of`` (a data version, an ISO 8601 instant, or ``None`` = latest).
``meter_totals``
    An inventory/audit job: exact integer energy totals (Wh) per site, channel and
    site-local month straight from the stored meter table, for reconciling against a
    utility's or meter vendor's own totals after ingest. It settles nothing.
``scenario``
    What-if variants of a base portfolio (``document``: a scenario document, see
    ``engine.scenario`` and ``m2c scenarios schema``), each re-settled by the engine
    that bills; the result is stored apart, never as an invoice.

New kinds (scenario, bankability) add a model here and a :class:`jobs.tasks.JobKind`.

Every field is bounded (a request body is bounded too, ``M2C_API_MAX_BODY_BYTES``):
ids follow ``engine.ids.ID_PATTERN`` (so no id reaches a store key unchecked), id
lists hold at most :data:`MAX_IDS` entries, periods and instants are short strings,
free text (``reason``) at most 2,000 characters.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import (BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo,
                      field_validator, model_validator)

from engine.canonical import canonical_json
from engine.errors import ValidationError
from engine.ids import ID_PATTERN, ID_RULE, is_valid_id, shown
from engine.timebase import parse_period, periods_between

__all__ = ["SettlementSpec", "RebillSpec", "MeterTotalsSpec", "ShadowSettlementSpec", "ScenarioSpec",
           "BankabilitySpec", "JobSpec", "parse_spec",
           "spec_fingerprint", "natural_key", "spec_to_dict", "JOB_KINDS"]

# Table names whose data versions a spec may pin (storage/tables.py); with carbon tracing,
# also the grid factors and the certificate registry (jobs.settle_inputs.DataVersions).
DATA_TABLES = ("meter", "prices", "index", "grid_factors", "certificates")
#: the most contract or site ids one spec may name
MAX_IDS = 10_000
#: the longest backfill one settlement job takes (30 years of months)
MAX_SETTLEMENT_PERIODS = 360

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
ListedId = Annotated[str, Field(max_length=64)]       # pattern checked by _sorted_unique
Period = Annotated[str, Field(max_length=16)]


def _check_period(value: str) -> str:
    try:
        parse_period(value)
    except (ValueError, AttributeError):
        raise ValueError(f"must be a billing period YYYY-MM, got {value!r}") from None
    return value


def _check_order(to_period: str, info: ValidationInfo) -> str:
    """``to_period`` validator: not before ``from_period`` (when that one was valid)."""
    first = info.data.get("from_period")
    if first is not None and parse_period(first) > parse_period(to_period):
        raise ValueError(f"{to_period} is before from_period {first}")
    return to_period


def _sorted_unique(values: list[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    cleaned = [v.strip() for v in values]
    if not cleaned:
        raise ValueError(f"give at least one {what}, or omit the field for all")
    if any(not v for v in cleaned):
        raise ValueError(f"{what} ids must be non-empty")
    bad = next((v for v in cleaned if not is_valid_id(v)), None)
    if bad is not None:
        raise ValueError(f"{shown(bad)} is not a valid {what} id: {ID_RULE}")
    return sorted(set(cleaned))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SettlementSpec(_Spec):
    """Month-end settlement of one billing period, or of consecutive ones (a backfill)."""

    kind: Literal["settlement"] = "settlement"
    # from/to before period: period's validator sees them (and names the field)
    from_period: Period | None = Field(default=None, description="first period of a backfill, YYYY-MM")
    to_period: Period | None = Field(default=None, description="last period of a backfill "
                                                               "(inclusive), YYYY-MM")
    period: Period | None = Field(default=None, validate_default=True,
                                  description="billing period, contract-local month YYYY-MM "
                                              "(or from_period and to_period)")
    contracts: list[ListedId] | None = Field(
        default=None, max_length=MAX_IDS,
        description="contract ids; omitted = every contract active in the period")
    as_of: dict[Annotated[str, Field(max_length=16)], int] | None = Field(
        default=None, max_length=len(DATA_TABLES),
        description="pinned table data versions, e.g. {\"meter\": 7}")
    allow_incomplete: bool = Field(
        default=False, description="publish periods beyond their meter completeness limits as "
                                   "'estimated' invoices instead of failing the job")
    carbon: bool = Field(
        default=True, description="trace carbon beside the money (engine.carbon): the ESG annex of "
                                  "invoices whose sites name a balancing_authority; false: money only")

    @model_validator(mode="before")
    @classmethod
    def _one_month_range(cls, data: Any) -> Any:
        """A range of one month is that month: one spec, one fingerprint, one natural key."""
        if (isinstance(data, dict) and data.get("period") is None
                and data.get("from_period") is not None
                and data.get("from_period") == data.get("to_period")):
            data = {**data, "period": data["from_period"], "from_period": None, "to_period": None}
        return data

    @field_validator("from_period", "to_period")
    @classmethod
    def _range_ends(cls, v: str | None) -> str | None:
        return None if v is None else _check_period(v)

    @field_validator("to_period")
    @classmethod
    def _ordered(cls, v: str | None, info: ValidationInfo) -> str | None:
        return v if v is None else _check_order(v, info)

    @field_validator("period")
    @classmethod
    def _period(cls, v: str | None, info: ValidationInfo) -> str | None:
        first, last = info.data.get("from_period"), info.data.get("to_period")
        if v is not None:
            if first is not None or last is not None:
                raise ValueError("give period, or from_period and to_period, not both")
            return _check_period(v)
        if "from_period" not in info.data or "to_period" not in info.data:
            return None                        # a range end was invalid: reported there
        if first is None or last is None:
            raise ValueError("required (or from_period and to_period for a backfill)")
        months = len(periods_between(first, last))
        if months > MAX_SETTLEMENT_PERIODS:
            raise ValueError(f"a backfill covers at most {MAX_SETTLEMENT_PERIODS} periods; "
                             f"{first}..{last} has {months}")
        return None

    @property
    def periods(self) -> list[str]:
        """The billing periods settled, in order."""
        if self.period is not None:
            return [self.period]
        assert self.from_period is not None and self.to_period is not None
        return periods_between(self.from_period, self.to_period)

    @field_validator("contracts")
    @classmethod
    def _contracts(cls, v: list[str] | None) -> list[str] | None:
        return _sorted_unique(v, "contract")

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        if v is None:
            return None
        unknown = sorted(set(v) - set(DATA_TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; known: {list(DATA_TABLES)}")
        if any(version < 0 for version in v.values()):
            raise ValueError("data versions are >= 0")
        return dict(sorted(v.items()))


class RebillSpec(_Spec):
    """Re-settle a range of past periods of one contract; adjustments against what was billed."""

    kind: Literal["rebill"] = "rebill"
    contract: Id = Field(description="contract id")
    from_period: Period = Field(description="first period, YYYY-MM")
    to_period: Period = Field(description="last period (inclusive), YYYY-MM")
    as_of: int | Annotated[str, Field(max_length=40)] | None = Field(
        default=None, description="data version (int) or ISO 8601 instant; omitted = latest")
    reason: str | None = Field(default=None, max_length=2000, description="why, for the audit trail")
    allow_incomplete: bool = Field(
        default=False, description="publish adjustments beyond their meter completeness limits "
                                   "as 'estimated' invoices instead of failing the job")

    @field_validator("from_period", "to_period")
    @classmethod
    def _periods(cls, v: str) -> str:
        return _check_period(v)

    @field_validator("to_period")
    @classmethod
    def _ordered(cls, v: str, info: ValidationInfo) -> str:
        return _check_order(v, info)

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, int) and v < 0:
            raise ValueError("a data version is >= 0")
        if isinstance(v, str):
            try:
                instant = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"expected a data version or an ISO 8601 instant, got {v!r}") from None
            if instant.tzinfo is None:
                raise ValueError(f"instant {v!r} needs an offset (Z or +hh:mm)")
        return v


class MeterTotalsSpec(_Spec):
    """Inventory/audit: exact energy totals per site, channel and month from stored data."""

    kind: Literal["meter_totals"] = "meter_totals"
    from_period: Period = Field(description="first site-local month, YYYY-MM")
    to_period: Period = Field(description="last site-local month (inclusive), YYYY-MM")
    sites: list[ListedId] | None = Field(default=None, max_length=MAX_IDS,
                                   description="site ids; omitted = all sites")
    as_of: int | None = Field(default=None, ge=0, description="meter table data version")

    @field_validator("from_period", "to_period")
    @classmethod
    def _periods(cls, v: str) -> str:
        return _check_period(v)

    @field_validator("sites")
    @classmethod
    def _sites(cls, v: list[str] | None) -> list[str] | None:
        return _sorted_unique(v, "site")

    @field_validator("to_period")
    @classmethod
    def _ordered(cls, v: str, info: ValidationInfo) -> str:
        return _check_order(v, info)


class ShadowSettlementSpec(_Spec):
    """ISO shadow settlement of resources over operating days (``engine.market``)."""

    kind: Literal["shadow_settlement"] = "shadow_settlement"
    iso: Literal["ERCOT", "PJM", "CAISO"] = Field(description="market operator")
    resources: list[str] | None = Field(
        default=None, description="resource ids; omitted = every resource of the ISO in the registry")
    from_date: str = Field(description="first operating day, YYYY-MM-DD")
    to_date: str = Field(description="last operating day (inclusive), YYYY-MM-DD")
    as_of: dict[str, int] | None = Field(
        default=None, description="pinned versions: meter, prices, awards data versions; sites "
                                  "registry version")

    @field_validator("from_date", "to_date")
    @classmethod
    def _dates(cls, v: str) -> str:
        try:
            date.fromisoformat(v)
        except (TypeError, ValueError):
            raise ValueError(f"must be an operating day YYYY-MM-DD, got {v!r}") from None
        return v

    @field_validator("to_date")
    @classmethod
    def _date_order(cls, v: str, info: ValidationInfo) -> str:
        first = info.data.get("from_date")
        if first is not None and date.fromisoformat(first) > date.fromisoformat(v):
            raise ValueError(f"{v} is before from_date {first}")
        if first is not None and (date.fromisoformat(v) - date.fromisoformat(first)).days > 3660:
            raise ValueError("at most ten years of operating days per job")
        return v

    @field_validator("resources")
    @classmethod
    def _resources(cls, v: list[str] | None) -> list[str] | None:
        return _sorted_unique(v, "resource")

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        if v is None:
            return None
        unknown = sorted(set(v) - {"meter", "prices", "awards", "sites"})
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; known: meter, prices, awards, sites")
        if any(version < 0 for version in v.values()):
            raise ValueError("versions are >= 0")
        return dict(sorted(v.items()))


class ScenarioSpec(_Spec):
    """What-if variants of a base portfolio, re-settled by the engine that bills."""

    kind: Literal["scenario"] = "scenario"
    document: dict[str, Any] = Field(
        description="the scenario document (its JSON Schema: `m2c scenarios schema`)")

    @field_validator("document")
    @classmethod
    def _document(cls, v: dict[str, Any]) -> dict[str, Any]:
        from engine.scenario import parse_scenario
        from engine.scenario.document import normalise
        try:
            parse_scenario(v, source="document")
        except ValidationError as exc:
            message = str(exc).split(": ", 2)[-1] if exc.field else str(exc)
            raise ValueError(f"{exc.field}: {message}" if exc.field else message) from None
        return normalise(v)


class BankabilitySpec(_Spec):
    """A bankability run: the model document (``m2c bankability schema``), with the
    number of paths and the seed optionally overriding the document's."""

    kind: Literal["bankability"] = "bankability"
    model: dict[str, Any] = Field(description="the bankability model document")
    paths: int | None = Field(default=None, ge=1, description="overrides uncertainty.paths")
    seed: int | None = Field(default=None, ge=0, description="overrides uncertainty.seed")

    @field_validator("model")
    @classmethod
    def _model(cls, v: dict[str, Any]) -> dict[str, Any]:
        from engine.errors import ValidationError as ModelError
        from engine.finance.model import HARD_MAX_PATHS, parse_model
        try:
            parse_model(v, "model", max_paths=HARD_MAX_PATHS)
        except ModelError as exc:
            raise ValueError(f"{exc.field}: {str(exc).split(': ', 2)[-1]}") from None
        return v


JobSpec = Annotated[Union[SettlementSpec, RebillSpec, MeterTotalsSpec, ShadowSettlementSpec,
                          ScenarioSpec, BankabilitySpec],
                    Field(discriminator="kind")]
JOB_KINDS = ("settlement", "rebill", "meter_totals", "shadow_settlement", "scenario", "bankability")

_ADAPTER: TypeAdapter = TypeAdapter(JobSpec)


def _loc(loc: tuple[Any, ...]) -> str:
    """pydantic error location -> field path, e.g. ``contracts[0]``; drops the union tag."""
    out = ""
    for i, part in enumerate(loc):
        if i == 0 and isinstance(part, str) and part in JOB_KINDS:
            continue          # the discriminated-union branch name, not a field
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "kind"


def _msg(error: dict) -> str:
    msg = error["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def parse_spec(obj: Any, source: str = "spec") -> JobSpec:
    """Validate a job request body into its spec model.

    Raises ``ValidationError`` (an ``InputError``) naming the first bad field, with
    every problem in ``problems``; ``source`` names the file or request it came from.
    """
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    if not isinstance(obj, dict):
        raise ValidationError("a job spec is a JSON object", file=source, field="kind")
    if "kind" not in obj:
        raise ValidationError(f"missing; one of {list(JOB_KINDS)}", file=source, field="kind")
    if obj["kind"] not in JOB_KINDS:
        raise ValidationError(f"unknown job kind {obj['kind']!r}; one of {list(JOB_KINDS)}",
                              file=source, field="kind")
    try:
        return _ADAPTER.validate_python(obj)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [f"{_loc(e['loc'])}: {_msg(e)}" for e in errors]
        first = errors[0]
        raise ValidationError(_msg(first), file=source, field=_loc(first["loc"]),
                              problems=problems) from None


#: fields added to a kind after specs of it were first stored, with their defaults:
#: left out of the canonical form while at the default, so a spec that does not use
#: them keeps the form (and the fingerprint) it had before they existed
_LATER_FIELDS: dict[str, dict[str, Any]] = {
    "settlement": {"from_period": None, "to_period": None, "allow_incomplete": False, "carbon": True},
    "rebill": {"allow_incomplete": False},
}


def spec_to_dict(spec: JobSpec) -> dict:
    """The canonical JSON-able form of a spec (what the catalog stores)."""
    doc = spec.model_dump(mode="json")
    for name, default in _LATER_FIELDS.get(doc.get("kind", ""), {}).items():
        if name in doc and doc[name] == default:
            del doc[name]
    return doc


def spec_fingerprint(spec: JobSpec) -> str:
    """SHA-256 (hex) of the canonical JSON of the spec: sorted keys, no whitespace.

    Defaults are included, so ``{"kind": "settlement", "period": "2026-10"}`` and the
    same body with ``"contracts": null`` have one fingerprint.
    """
    return hashlib.sha256(canonical_json(spec_to_dict(spec))).hexdigest()


def natural_key(spec: JobSpec) -> str | None:
    """The key under which at most one live-or-successful job of this spec may exist.

    Month-end settlement is idempotent by itself:
    ``settlement:<period>:<sorted contracts joined by ','>`` or ``...:*`` for all
    contracts; a backfill ``settlement:<from>..<to>:...``. A run pinned to data
    versions (``as_of``) is a different run and gets the suffix
    ``@meter=7,prices=3``. ``allow_incomplete`` is not part of the key: a period that
    settled without it has nothing to override. Rebills and audits are deliberate
    re-runs: None.
    """
    if isinstance(spec, SettlementSpec):
        periods = spec.period or f"{spec.from_period}..{spec.to_period}"
        key = f"settlement:{periods}:{','.join(spec.contracts or []) or '*'}"
        if spec.as_of:
            key += "@" + ",".join(f"{t}={v}" for t, v in sorted(spec.as_of.items()))
        return key
    return None
