"""What every term kind shares: the module protocol, parameter parsing, rate rules.

A term kind is one module in ``engine/terms/`` plus one entry in ``TERM_KINDS``
(``engine/terms/__init__.py``), which wraps it in a ``TermKind``. The module defines:

``KIND``
    the ``kind`` string of the contract document.
``SCHEMA``
    its parameters as a JSON-Schema fragment (draft 2020-12):
    ``{"required": [...], "properties": {...}}``. ``engine.contract.contract_schema()``
    adds ``id``, ``kind``, ``description`` and ``additionalProperties: false``, and
    publishes it as ``$defs/<KIND>``. A ``$ref`` may name the shared ``$defs`` of
    ``engine/contract_schema.json`` (``decimal``, ``nonneg_decimal``, ``fraction``,
    ``refs``, ``term_id``, ``node``, ``market_run``, ``tou``).
``parse(raw: dict, where: str) -> Params``
    a frozen dataclass of exact parameters (``Fraction`` for decimals), from a term
    the schema has accepted. Raises ``FieldError(path, message)``;
    ``engine.contract`` turns it into a ``ContractError`` naming the contract,
    version and field path.
``interval(term, ctx) -> IntervalOutput`` and/or ``period(term, pctx) -> list[PeriodLine]``
    Defining ``interval`` makes the kind *interval-level*: the map side, per site
    and contract-version sub-range, returning per-interval lines (exact int64
    quantity, rate, amount) and additive integer determinants; it must only produce
    sums that add up across sites, days and versions. Defining ``period`` makes it
    *period-level*: the finalize side, once per contract and billing period from
    the combined determinants, with the version in force on the period's last day.
    A kind may define both (``capacity``: determinants per interval, its line at
    finalize; ``take_or_pay``: the delivered line per interval, the top-up at finalize).

Optional, with the default used when the module leaves it out:

``refs(params) -> list[tuple[field, ref]]`` (none)
    channel references (name or ``kind:<kind>``) the term reads, with the field
    that holds each, for ``validate_contract_sites``.
``check(term, cv, where) -> list[tuple[path, message]]`` (none)
    cross-field checks needing the whole contract (pricing hub, price_term).
``needs(term, cv, site) -> list[tuple]`` (none)
    market data read: ``("price", (iso, node, market_run))`` or
    ``("index", name, frequency, carry_forward_days)``.
``lookback_periods(term, cv, period) -> list[str]`` (none)
    earlier billing months whose delivered energy ``period`` needs at finalize
    (``PeriodContext.lookback``; ``min_delivery`` closing a guarantee period).
``LINE_PARTS: tuple[str, ...]`` (``()``)
    the ``<part>`` of the kind's line ids ``<term id>:<part>``, in invoice order
    (``energy_fixed``: on_peak, off_peak); a bare ``<term id>`` line comes first.
    Every line's ``charge`` is the kind's ``KIND``, by which settlement finds it.
``line_determinants(sums, quantity_wh, amount_picousd) -> dict[str, str]`` (none)
    the billing determinants an interval-level line shows on the invoice
    (``lines[].determinants``: name -> decimal string, the unit in the name), from
    the additive integer ``IntervalLine.sums`` the kind attached to it, summed over
    sites and days like its quantity and amount, with the line's exact totals
    (``vppa``: capture price and effective price). They describe the line; they
    never change an amount.
``schedule(term, cv, year) -> list[tuple[column, rate, unit]]`` (none)
    the term's contract rates in contract year ``year``, by the same functions
    settlement applies (``energy_fixed``: its escalated price per TOU bucket), for
    ``engine.contract.price_schedule`` (``m2c contracts show``). A kind whose rate
    depends on market data or an index leaves it out.

Rate rule. A rate derived by formula (escalator, heat rate x index, CPI ratio,
hedge share, revenue share) is computed exactly with ``Fraction`` and quantised
**once per distinct rate** to integer micro-USD/MWh, half-even, by
``quantise_micro`` (the one home of that rounding; ``affine_micro`` gives the same
integers for a rate affine in a price, for a whole array of prices at once): that
quantisation is part of the rate's definition ("the escalated price is rounded to
1e-6 USD/MWh"). Interval
amounts are then exact: ``energy_wh * rate_microusd_per_mwh = amount_picousd``.
Period-level amounts are exact ``Fraction`` pico-dollars rounded once to cents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from math import gcd
from types import ModuleType
from typing import Any, Callable, Literal, Mapping, overload

import numpy as np

from ..contract_model import ContractVersion, Term
from ..errors import FieldError
from ..money import mul_exact
from ..pricing import align_index, align_prices
from ..sites import Site
from ..units import MICRO


# --------------------------------------------------------------------------- params
Bound = Fraction | int | None


@overload
def dec(raw: dict, key: str, where: str, *, default: str, required: bool = ...,
        lo: Bound = ..., hi: Bound = ...) -> Fraction: ...
@overload
def dec(raw: dict, key: str, where: str, *, default: None = ..., required: Literal[True],
        lo: Bound = ..., hi: Bound = ...) -> Fraction: ...
@overload
def dec(raw: dict, key: str, where: str, *, default: str | None = ..., required: bool = ...,
        lo: Bound = ..., hi: Bound = ...) -> Fraction | None: ...
def dec(raw: dict, key: str, where: str, *, default: str | None = None, required: bool = False,
        lo: Bound = None, hi: Bound = None) -> Fraction | None:
    """Exact decimal parameter (a decimal string) as a Fraction, with bounds; None
    if absent and neither ``default`` nor ``required``."""
    v = raw.get(key, default)
    path = f"{where}.{key}"
    if v is None:
        if required:
            raise FieldError(path, "required")
        return None
    if not isinstance(v, str):
        raise FieldError(path, f"must be a decimal string like \"45.00\" (quote it in YAML); got {v!r}")
    try:
        f = Fraction(v)
    except (ValueError, ZeroDivisionError):
        raise FieldError(path, f"not a decimal: {v!r}") from None
    if lo is not None and f < lo:
        raise FieldError(path, f"must be >= {lo}; got {v}")
    if hi is not None and f > hi:
        raise FieldError(path, f"must be <= {hi}; got {v}")
    return f


@overload
def refs_param(raw: dict, key: str, where: str, default: tuple[str, ...], *,
               required: bool = ...) -> tuple[str, ...]: ...
@overload
def refs_param(raw: dict, key: str, where: str, default: None = ..., *,
               required: Literal[True]) -> tuple[str, ...]: ...
@overload
def refs_param(raw: dict, key: str, where: str, default: None = ..., *,
               required: bool = ...) -> tuple[str, ...] | None: ...
def refs_param(raw: dict, key: str, where: str, default: tuple[str, ...] | None = None, *,
               required: bool = False) -> tuple[str, ...] | None:
    """Channel references (names or ``kind:<kind>``) as a tuple; ``default`` if absent."""
    v = raw.get(key)
    if v is None:
        if required and default is None:
            raise FieldError(f"{where}.{key}", "required")
        return default
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise FieldError(f"{where}.{key}", "must be a non-empty list of channel names or kind:<kind>")
    return tuple(v)


def choice(raw: dict, key: str, where: str, options: tuple[str, ...], default: str) -> str:
    v = raw.get(key, default)
    if v not in options:
        raise FieldError(f"{where}.{key}", f"must be one of {', '.join(options)}; got {v!r}")
    return v


# --------------------------------------------------------------------------- rates
def quantise_micro(value_usd: Fraction) -> int:
    """Exact USD (per MWh) -> integer micro-USD, half-even (the one rate quantisation)."""
    return round(Fraction(value_usd) * MICRO)


_INT64_SAFE = 2**62


def affine_micro(x: Any, slope: Fraction, intercept: Fraction) -> Any:
    """``quantise_micro(slope * x + intercept)`` of every element of ``x`` (an integer
    or an int64 array, e.g. prices in micro-USD/MWh), exactly and vectorised.

    A rate that is an affine function of a price (a hedge share times strike minus
    price, a revenue share times price) is quantised this way instead of with one
    ``Fraction`` per distinct price: with ``slope * 1e6 = a/d`` and ``intercept * 1e6 =
    b/d`` over one common denominator, the rate is the integer quotient of
    ``a * x + b`` by ``d`` rounded half-even, the same integer ``quantise_micro``
    gives. The products are int64 when their bound allows it, Python integers
    otherwise (still exact). An integer ``x`` gives an ``int``, an array an int64 array.
    """
    sm, im = Fraction(slope) * MICRO, Fraction(intercept) * MICRO
    d = sm.denominator * im.denominator // gcd(sm.denominator, im.denominator)
    a, b = sm.numerator * (d // sm.denominator), im.numerator * (d // im.denominator)
    if np.ndim(x) == 0:
        quo, rem = divmod(a * int(x) + b, d)
        return quo + (1 if 2 * rem > d or (2 * rem == d and quo % 2) else 0)
    arr = np.asarray(x, dtype=np.int64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    xmax = max(abs(int(arr.min())), abs(int(arr.max())))
    num: np.ndarray
    if abs(a) * xmax + abs(b) < _INT64_SAFE and d < _INT64_SAFE // 2:
        num = arr * a + b if a else np.full(arr.shape, b, dtype=np.int64)
    else:
        num = arr.astype(object) * a + b
    q: np.ndarray = num // d
    r: np.ndarray = num - q * d                                   # 0 <= r < d
    up = np.asarray((2 * r > d) | ((2 * r == d) & (q % 2 == 1)), dtype=np.int64)   # half-even
    return np.asarray(q + up, dtype=np.int64)


def escalated_price_micro(price: Fraction, escalator_pct: Fraction | None, year: int,
                          factor: Fraction = Fraction(1)) -> int:
    """``price x (1 + e)^(year-1) x factor`` in micro-USD/MWh, rounded half-even once.

    ``year`` is the contract year (1 = the first). ``escalator_pct`` is in percent
    per year ("2.5" = 2.5 %).
    """
    if year < 1:
        raise ValueError(f"contract year must be >= 1, got {year}")
    e = (escalator_pct or Fraction(0)) / 100
    return quantise_micro(price * (1 + e) ** (year - 1) * factor)


def anniversary(start: date, k: int) -> date:
    """The ``k``-th anniversary of ``start`` (Feb 29 -> Feb 28 in common years)."""
    y = start.year + k
    try:
        return start.replace(year=y)
    except ValueError:
        return start.replace(year=y, day=28)


def contract_year(local_day: np.ndarray, term_start: date) -> np.ndarray:
    """Contract year (1-based) of each local date (days since 1970-01-01).

    Year ``y`` runs from the ``(y-1)``-th anniversary of ``term.start`` (local date,
    inclusive) to the next one (exclusive). Days before the start map to year 0.
    """
    local_day = np.asarray(local_day, dtype=np.int64)
    if local_day.size == 0:
        return np.zeros(0, dtype=np.int64)
    epoch = date(1970, 1, 1).toordinal()
    last = date.fromordinal(int(local_day.max()) + epoch)
    n = max(last.year - term_start.year + 2, 1)
    ann = np.array([anniversary(term_start, k).toordinal() - epoch for k in range(n)], dtype=np.int64)
    return np.searchsorted(ann, local_day, side="right").astype(np.int64)


# --------------------------------------------------------------------------- outputs
@dataclass
class IntervalLine:
    """One line's interval-level values for a subset ``sel`` of the context's intervals.

    ``quantity_wh``, ``rate_microusd_per_mwh`` and ``amount_picousd`` are int64
    arrays aligned with ``sel`` (an int index array into the context intervals), and
    ``amount_picousd == quantity_wh * rate_microusd_per_mwh`` element-wise.
    """
    line_id: str
    charge: str
    description: str
    sel: np.ndarray
    quantity_wh: np.ndarray
    rate_microusd_per_mwh: np.ndarray
    amount_picousd: np.ndarray
    tou_bucket: str | None = None
    sums: dict[str, int] = field(default_factory=dict)   # additive determinants of the line


@dataclass
class IntervalOutput:
    lines: list[IntervalLine] = field(default_factory=list)
    determinants: dict[str, int] = field(default_factory=dict)   # additive integers


@dataclass(frozen=True)
class PeriodLine:
    """A line computed at finalize: exact amount as a Fraction of pico-dollars."""
    line_id: str
    charge: str
    description: str
    quantity: Fraction           # in ``quantity_unit``
    quantity_unit: str
    rate: Fraction               # in ``rate_unit``
    rate_unit: str
    amount_picousd: Fraction


@dataclass
class PeriodContext:
    """Inputs of the finalize side of one term."""
    cv: ContractVersion                 # the version in force on the period's last local day
    period: str
    determinants: dict[str, int]        # combined over sites, days and versions
    delivered_wh: int                   # the period's delivered energy (all sites)
    lookback: dict[str, int] | None     # delivered Wh of earlier months, by YYYY-MM
    last_day: date                      # the period's last local date within the term

    def contract_year(self) -> int:
        """Contract year of the period's last local date (1-based)."""
        epoch = date(1970, 1, 1).toordinal()
        return int(contract_year(np.array([self.last_day.toordinal() - epoch]), self.cv.term_start)[0])

    def det(self, term: Term, name: str) -> int:
        return int(self.determinants.get(f"{term.id}:{name}", 0))


def md(term_id: str, name: str) -> str:
    """Key of an additive determinant of term ``term_id``."""
    return f"{term_id}:{name}"


# --------------------------------------------------------------------------- map context
@dataclass
class IntervalContext:
    """The intervals of one site under one contract version (a UTC sub-range).

    Arrays are aligned with ``start_us``. Terms ask for what they need; price and
    index alignment are cached per context.
    """
    cv: ContractVersion
    site: Site
    start_us: np.ndarray
    minutes: int
    local: Any                       # engine.timebase.LocalFields of start_us (contract tz)
    delivered_wh: np.ndarray
    quality: np.ndarray              # 0 actual, 1 estimated, 2 missing
    market: Any                      # engine.settlement.MarketData
    _energy: Any = None              # callable refs -> int64 Wh array (this sub-range)
    _cache: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.start_us.size)

    def energy(self, refs: tuple[str, ...]) -> np.ndarray:
        return self._energy(refs)

    def contract_year(self) -> np.ndarray:
        if "year" not in self._cache:
            self._cache["year"] = contract_year(self.local.day, self.cv.term_start)
        return self._cache["year"]

    def price(self, key: tuple[str, str, str]) -> np.ndarray:
        """Aligned LMP (micro-USD/MWh) of price series ``(iso, node, market_run)``."""
        ck = ("price",) + key
        if ck not in self._cache:
            self._cache[ck] = align_prices(self.market.prices.get(key), self.start_us, self.minutes,
                                           "/".join(key))
        return self._cache[ck]

    def index(self, name: str, frequency: str, carry_forward_days: int) -> np.ndarray:
        ck = ("index", name, frequency, carry_forward_days)
        if ck not in self._cache:
            self._cache[ck] = align_index(self.market.indices.get(name), self.local.day, name,
                                          frequency=frequency, carry_forward_days=carry_forward_days)
        return self._cache[ck]


def rates_by_distinct(keys: np.ndarray, fn) -> np.ndarray:
    """Apply the exact scalar rate function ``fn`` once per distinct key (vectorised map)."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    vals = np.array([fn(k.item() if hasattr(k, "item") else k) for k in uniq], dtype=np.int64)
    return vals[inv.reshape(-1)]


def line(line_id: str, charge: str, description: str, sel: np.ndarray, qty: np.ndarray,
         rate: np.ndarray, tou_bucket: str | None = None, sums: dict[str, int] | None = None
         ) -> IntervalLine:
    """Build an ``IntervalLine`` with ``amount = qty x rate`` computed with overflow checks."""
    qty = np.asarray(qty, dtype=np.int64)
    rate = np.asarray(rate, dtype=np.int64)
    return IntervalLine(line_id, charge, description, np.asarray(sel, dtype=np.int64), qty, rate,
                        mul_exact(qty, rate), tou_bucket, dict(sums or {}))


def frac_str(f: Fraction, max_places: int = 6) -> str:
    """Exact decimal string of a Fraction (rounded half-even to ``max_places`` if not terminating)."""
    from decimal import Decimal, ROUND_HALF_EVEN
    f = Fraction(f)
    d = f.denominator
    places = 0
    while d % 10 == 0 or d % 2 == 0 or d % 5 == 0:
        if d % 10 == 0:
            d //= 10
        elif d % 2 == 0:
            d //= 2
        else:
            d //= 5
        places += 1
    if d != 1 or places > max_places:
        places = max_places
    q = round(f * 10**places)
    s = str(Decimal(q).scaleb(-places).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))
    return s


def rate_str(rate: Fraction | int) -> str:
    """A rate or price as an invoice shows it: exact up to 6 places (else rounded
    half-even to 6), at least 2 places (``"64.00"``, ``"38.412346"``)."""
    whole, _, frac = frac_str(Fraction(rate), 6).partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


# --------------------------------------------------------------------------- the protocol
# Defaults for what a kind leaves out (see the module docstring).
def no_refs(params) -> list[tuple[str, str]]:
    """The term reads no channels beyond the contract's delivered definition."""
    return []


def no_check(term: Term, cv: ContractVersion, where: str) -> list[tuple[str, str]]:
    """No cross-field checks beyond ``parse``."""
    return []


def no_needs(term: Term, cv: ContractVersion, site: Site) -> list[tuple]:
    """The term reads no market prices or indices."""
    return []


def no_lookback(term: Term, cv: ContractVersion, period: str) -> list[str]:
    """The term needs no earlier month's delivered energy."""
    return []


def no_interval(term: Term, ctx: IntervalContext) -> IntervalOutput:
    """A period-level-only kind: nothing on the map side."""
    return IntervalOutput()


def no_period(term: Term, ctx: PeriodContext) -> list[PeriodLine]:
    """An interval-level-only kind: nothing at finalize."""
    return []


def no_line_determinants(sums: Mapping[str, int], quantity_wh: int, amount_picousd: int) -> dict[str, str]:
    """The kind's lines show no determinants beyond quantity, rate and amount."""
    return {}


def no_schedule(term: Term, cv: ContractVersion, year: int) -> list[tuple[str, Fraction, str]]:
    """The term has no contract rate to list by contract year (market- or index-priced)."""
    return []


@dataclass(frozen=True)
class TermKind:
    """A term kind as contract parsing and settlement use it: its module's names,
    with the protocol's defaults for those it leaves out (``TermKind.of``)."""
    kind: str
    module: ModuleType
    schema: Mapping[str, Any]
    parse: Callable[[dict, str], Any]
    refs: Callable[[Any], list[tuple[str, str]]]
    check: Callable[[Term, ContractVersion, str], list[tuple[str, str]]]
    needs: Callable[[Term, ContractVersion, Site], list[tuple]]
    lookback_periods: Callable[[Term, ContractVersion, str], list[str]]
    interval: Callable[[Term, IntervalContext], IntervalOutput]
    period: Callable[[Term, PeriodContext], list[PeriodLine]]
    line_parts: tuple[str, ...]
    interval_level: bool          # defines ``interval`` (settled on the map side)
    period_level: bool            # defines ``period`` (settled at finalize)
    line_determinants: Callable[[Mapping[str, int], int, int], dict[str, str]] = no_line_determinants
    schedule: Callable[[Term, ContractVersion, int], list[tuple[str, Fraction, str]]] = no_schedule

    @classmethod
    def of(cls, module: ModuleType) -> "TermKind":
        name = module.__name__
        missing = [n for n in ("KIND", "SCHEMA", "parse") if not hasattr(module, n)]
        if missing:
            raise TypeError(f"term kind {name} does not define {', '.join(missing)}")
        interval_level, period_level = hasattr(module, "interval"), hasattr(module, "period")
        if not (interval_level or period_level):
            raise TypeError(f"term kind {name} defines neither interval nor period")
        parts = tuple(getattr(module, "LINE_PARTS", ()))
        if len(set(parts)) != len(parts) or not all(p and ":" not in p and "@" not in p for p in parts):
            raise TypeError(f"term kind {name}: LINE_PARTS must be distinct names without ':' or '@'")
        return cls(module.KIND, module, module.SCHEMA, module.parse,
                   getattr(module, "refs", no_refs), getattr(module, "check", no_check),
                   getattr(module, "needs", no_needs), getattr(module, "lookback_periods", no_lookback),
                   getattr(module, "interval", no_interval), getattr(module, "period", no_period),
                   parts, interval_level, period_level,
                   getattr(module, "line_determinants", no_line_determinants),
                   getattr(module, "schedule", no_schedule))
