"""What every term kind shares: the module protocol, parameter parsing, rate rules.

A term kind is a module in ``engine/terms/`` exposing the same names:

``KIND``
    the ``kind`` string of the contract document.
``parse(raw: dict, where: str) -> Params``
    a frozen dataclass of exact parameters (``Fraction`` for decimals). Raises
    ``FieldError(path, message)``; ``engine.contract`` turns it into a
    ``ContractError`` naming the contract, version and field path.
``refs(params) -> list[tuple[field, ref]]``
    channel references (name or ``kind:<kind>``) the term reads, with the field
    that holds each, for ``validate_contract_sites``.
``check(term, cv, where) -> list[tuple[path, message]]``
    cross-field checks needing the whole contract (pricing hub, price_term).
``needs(term, cv, site) -> list[tuple]``
    market data read: ``("price", (iso, node, market_run))`` or
    ``("index", name, frequency, carry_forward_days)``.
``interval(term, ctx: IntervalContext) -> IntervalOutput``
    the *map* side: per-interval lines (exact int64 quantity, rate, amount) and
    additive integer determinants for period-level terms. Runs per site and per
    contract-version sub-range, so it must only produce sums that add up across
    sites, days and versions.
``period(term, ctx: PeriodContext) -> list[PeriodLine]``
    the *finalize* side: lines computed once per contract and billing period from
    the combined determinants (capacity, min_delivery, take_or_pay top-up).

Rate rule. A rate derived by formula (escalator, heat rate x index, CPI ratio,
hedge share) is computed exactly with ``Fraction`` and quantised **once per
distinct rate** to integer micro-USD/MWh, half-even: that quantisation is part of
the rate's definition ("the escalated price is rounded to 1e-6 USD/MWh"). Interval
amounts are then exact: ``energy_wh * rate_microusd_per_mwh = amount_picousd``.
Period-level amounts are exact ``Fraction`` pico-dollars rounded once to cents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from ..units import MICRO

if TYPE_CHECKING:  # pragma: no cover
    from ..contract import ContractVersion, Term
    from ..sites import Site


class FieldError(Exception):
    """A term parameter is invalid; ``path`` is the field path inside the contract."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


# --------------------------------------------------------------------------- params
def dec(raw: dict, key: str, where: str, *, default: str | None = None, required: bool = False,
        lo: Fraction | int | None = None, hi: Fraction | int | None = None) -> Fraction | None:
    """Exact decimal parameter (a decimal string) as a Fraction, with bounds."""
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


def refs_param(raw: dict, key: str, where: str, default: tuple[str, ...] | None = None
               ) -> tuple[str, ...] | None:
    v = raw.get(key)
    if v is None:
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
    cv: "ContractVersion"               # the version in force on the period's last local day
    period: str
    determinants: dict[str, int]        # combined over sites, days and versions
    delivered_wh: int                   # the period's delivered energy (all sites)
    lookback: dict[str, int] | None     # delivered Wh of earlier months, by YYYY-MM
    last_day: date                      # the period's last local date within the term

    def contract_year(self) -> int:
        """Contract year of the period's last local date (1-based)."""
        epoch = date(1970, 1, 1).toordinal()
        return int(contract_year(np.array([self.last_day.toordinal() - epoch]), self.cv.term_start)[0])

    def det(self, term: "Term", name: str) -> int:
        return int(self.determinants.get(f"{term.id}:{name}", 0))


def md(term_id: str, name: str) -> str:
    """Key of an additive determinant of term ``term_id``."""
    return f"{term_id}:{name}"


def no_interval(term: "Term", ctx: Any) -> IntervalOutput:
    return IntervalOutput()


def no_period(term: "Term", ctx: PeriodContext) -> list[PeriodLine]:
    return []


# --------------------------------------------------------------------------- map context
@dataclass
class IntervalContext:
    """The intervals of one site under one contract version (a UTC sub-range).

    Arrays are aligned with ``start_us``. Terms ask for what they need; price and
    index alignment are cached per context.
    """
    cv: "ContractVersion"
    site: "Site"
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
        from ..pricing import align_prices
        ck = ("price",) + key
        if ck not in self._cache:
            self._cache[ck] = align_prices(self.market.prices.get(key), self.start_us, self.minutes,
                                           "/".join(key))
        return self._cache[ck]

    def index(self, name: str, frequency: str, carry_forward_days: int) -> np.ndarray:
        from ..pricing import align_index
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
         rate: np.ndarray, tou_bucket: str | None = None) -> IntervalLine:
    """Build an ``IntervalLine`` with ``amount = qty x rate`` computed with overflow checks."""
    from ..money import mul_exact
    qty = np.asarray(qty, dtype=np.int64)
    rate = np.asarray(rate, dtype=np.int64)
    return IntervalLine(line_id, charge, description, np.asarray(sel, dtype=np.int64), qty, rate,
                        mul_exact(qty, rate), tou_bucket)


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


# Defaults for the interface functions a kind does not need (assign, e.g. ``refs = no_refs``).
def no_refs(params) -> list[tuple[str, str]]:
    """The term reads no channels beyond the contract's delivered definition."""
    return []


def no_check(term, cv, where: str) -> list[tuple[str, str]]:
    """No cross-field checks beyond ``parse``."""
    return []


def no_needs(term, cv, site) -> list[tuple]:
    """The term reads no market prices or indices."""
    return []
