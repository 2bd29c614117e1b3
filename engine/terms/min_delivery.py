"""``min_delivery``: liquidated damages for delivering less than a guaranteed quantity.

Parameters::

    guaranteed_mwh: "1500000"          # GQ for one full guarantee period; or
    contract_quantity_mwh: "1764706"   #   CQ for one full guarantee period
    guarantee_pct: "85"                #   with GQ = 85 % x CQ (the notes' GEP)
    period: contract_year              # month | calendar_year | contract_year
    ld_usd_per_mwh: "12.00"            # LD rate; or
    ld_pct_of_price: "50"              #   LD = 50 % x the contract rate
    price_term: energy                 #   of this energy_fixed term

Exactly one of ``guaranteed_mwh`` or ``contract_quantity_mwh`` (with
``guarantee_pct``), and one of ``ld_usd_per_mwh`` or ``ld_pct_of_price`` (with
``price_term``). The contract rate (the notes' *NetEnergyRate*) is the referenced
``energy_fixed`` term's price escalated to the contract year of the closing
month's last day, as that term settles it (``escalated_price_micro``; its TOU
factors are not applied). The LD rate is that times the percentage, quantised
once (``quantise_micro``, half-even)::

    ld_microusd_per_mwh = round_half_even(pct / 100 x rate_microusd_per_mwh)

The guarantee period is a run of billing months: ``month`` (each month),
``calendar_year`` (Jan..Dec) or ``contract_year`` (12 months from the month of
``term.start``). It is settled only in the billing month that *closes* it (its
last month, or the term's last month if the term ends first), from the delivered
energy of all of its months within the term: the current month from the
settlement itself, the earlier ones from ``lookback`` (``lookback_periods`` says
which; the caller reads them from earlier settlements)::

    GQ_eff    = GQ x (months of the period within the term) / (months of the period)
    shortfall = max(GQ_eff - delivered, 0)      (MWh, exact)
    amount    = shortfall x LD                  (exact, rounded once to cents)

A closing month always carries the line (amount 0.00 when there is no shortfall).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import DataMissingError, FieldError
from ..timebase import next_period, parse_period, period_of
from ..units import MICRO, PICO_PER_USD, WH_PER_MWH
from . import _fixed_price
from .base import PeriodLine, choice, dec, frac_str, quantise_micro, rate_str

KIND = "min_delivery"
PERIODS = ("month", "calendar_year", "contract_year")
SCHEMA = {
    "required": ["period"],
    "properties": {
        "guaranteed_mwh": {"$ref": "#/$defs/nonneg_decimal"},
        "contract_quantity_mwh": {"$ref": "#/$defs/nonneg_decimal"},
        "guarantee_pct": {"$ref": "#/$defs/nonneg_decimal"},
        "period": {"enum": list(PERIODS)},
        "ld_usd_per_mwh": {"$ref": "#/$defs/nonneg_decimal"},
        "ld_pct_of_price": {"$ref": "#/$defs/nonneg_decimal"},
        "price_term": {"$ref": "#/$defs/term_id"},
    },
}


@dataclass(frozen=True)
class Params:
    guaranteed_mwh: Fraction | None
    period: str
    ld_usd_per_mwh: Fraction | None
    contract_quantity_mwh: Fraction | None = None
    guarantee_pct: Fraction | None = None
    ld_pct_of_price: Fraction | None = None
    price_term: str | None = None

    @property
    def guarantee_mwh(self) -> Fraction:
        """GQ of one full guarantee period: given, or ``guarantee_pct`` % of the contract quantity."""
        if self.guaranteed_mwh is not None:
            return self.guaranteed_mwh
        assert self.contract_quantity_mwh is not None and self.guarantee_pct is not None
        return self.contract_quantity_mwh * self.guarantee_pct / 100

    def ld_rate(self, cv, year: int) -> Fraction:
        """The LD rate in USD/MWh in contract year ``year`` (see the module docstring)."""
        if self.ld_usd_per_mwh is not None:
            return self.ld_usd_per_mwh
        assert self.ld_pct_of_price is not None and self.price_term is not None
        rate_micro = cv.term(self.price_term).params.rate_micro(year)
        return Fraction(quantise_micro(self.ld_pct_of_price / 100 * Fraction(rate_micro, MICRO)), MICRO)


def _one_of(raw: dict, where: str, single: str, pair: tuple[str, str]) -> None:
    """``single`` or both of ``pair``, never both forms; a field path names what is wrong."""
    has = [k in raw for k in pair]
    if single in raw and any(has):
        raise FieldError(f"{where}.{pair[has.index(True)]}", f"give either {single} or {' with '.join(pair)}")
    if single not in raw and not all(has):
        missing = pair[has.index(False)]
        raise FieldError(f"{where}.{single if not any(has) else missing}",
                         "required" if any(has) else f"required (or {' with '.join(pair)})")


def parse(raw: dict, where: str) -> Params:
    _one_of(raw, where, "guaranteed_mwh", ("contract_quantity_mwh", "guarantee_pct"))
    _one_of(raw, where, "ld_usd_per_mwh", ("ld_pct_of_price", "price_term"))
    return Params(dec(raw, "guaranteed_mwh", where, lo=0),
                  choice(raw, "period", where, PERIODS, "contract_year"),
                  dec(raw, "ld_usd_per_mwh", where, lo=0),
                  dec(raw, "contract_quantity_mwh", where, lo=0), dec(raw, "guarantee_pct", where, lo=0),
                  dec(raw, "ld_pct_of_price", where, lo=0), raw.get("price_term"))


def check(term, cv, where: str) -> list[tuple[str, str]]:
    """``price_term`` names an ``energy_fixed`` term of the same version."""
    p: Params = term.params
    return [] if p.price_term is None else _fixed_price.check_price(None, p.price_term, cv, where)


def guarantee_months(p: Params, cv, period: str) -> list[str]:
    """All billing months of the guarantee period containing ``period`` (not clipped)."""
    if p.period == "month":
        return [period]
    y, m = parse_period(period)
    if p.period == "calendar_year":
        first = period_of(y, 1)
    else:
        s = period_of(cv.term_start.year, cv.term_start.month)
        sy, sm = parse_period(s)
        k = ((y * 12 + m - 1) - (sy * 12 + sm - 1)) // 12
        first = next_period(s, 12 * k)
    return [next_period(first, i) for i in range(12)]


def _in_term(cv, months: list[str]) -> list[str]:
    lo = period_of(cv.term_start.year, cv.term_start.month)
    hi = period_of(cv.term_end.year, cv.term_end.month)
    return [x for x in months if lo <= x <= hi]


def closes(p: Params, cv, period: str) -> bool:
    months = _in_term(cv, guarantee_months(p, cv, period))
    return bool(months) and months[-1] == period


def lookback_periods(term, cv, period: str) -> list[str]:
    """Earlier months whose delivered energy the closing month needs ([] if not closing)."""
    p: Params = term.params
    if not closes(p, cv, period):
        return []
    return [x for x in _in_term(cv, guarantee_months(p, cv, period)) if x != period]


def period(term, pctx) -> list[PeriodLine]:
    p: Params = term.params
    cv = pctx.cv
    if not closes(p, cv, pctx.period):
        return []
    full = guarantee_months(p, cv, pctx.period)
    months = _in_term(cv, full)
    earlier = [x for x in months if x != pctx.period]
    lb = pctx.lookback or {}
    absent = [x for x in earlier if x not in lb]
    if absent:
        raise DataMissingError(f"{cv.label}: {term.id}: delivered energy of {', '.join(absent)} is needed "
                               f"to settle the guarantee period closing in {pctx.period} (pass lookback)")
    delivered_wh = pctx.delivered_wh + sum(int(lb[x]) for x in earlier)
    gq_wh = p.guarantee_mwh * WH_PER_MWH * Fraction(len(months), len(full))
    short_mwh = max(gq_wh - delivered_wh, Fraction(0)) / WH_PER_MWH
    year = pctx.contract_year()
    ld = p.ld_rate(cv, year)
    gq = f"guaranteed {frac_str(gq_wh / WH_PER_MWH)} MWh"
    if p.guarantee_pct is not None and p.contract_quantity_mwh is not None:
        part = f" x {len(months)}/{len(full)} months" if len(months) != len(full) else ""
        gq = (f"guaranteed {frac_str(p.guarantee_pct)}% x {frac_str(p.contract_quantity_mwh)} MWh{part} "
              f"= {frac_str(gq_wh / WH_PER_MWH)} MWh")
    ld_text = ""
    if p.ld_pct_of_price is not None:
        rate = Fraction(cv.term(p.price_term).params.rate_micro(year), MICRO)
        ld_text = (f"; LD {frac_str(p.ld_pct_of_price)}% x ${rate_str(rate)}/MWh "
                   f"({p.price_term}, contract year {year})")
    desc = (term.description or "Minimum delivery shortfall") + (
        f": {months[0]}..{months[-1]} {gq}, "
        f"delivered {frac_str(Fraction(delivered_wh, WH_PER_MWH))} MWh{ld_text}")
    return [PeriodLine(term.id, KIND, desc, short_mwh, "MWh", ld, "USD/MWh", short_mwh * ld * PICO_PER_USD)]


def schedule(term, cv, year: int) -> list[tuple[str, Fraction, str]]:
    """The LD rate by contract year."""
    return [(f"{term.id} LD", term.params.ld_rate(cv, year), "USD/MWh")]
