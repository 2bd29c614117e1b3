"""``min_delivery``: liquidated damages for delivering less than a guaranteed quantity.

Parameters::

    guaranteed_mwh: "1500000"          # GQ for one full guarantee period
    period: contract_year              # month | calendar_year | contract_year
    ld_usd_per_mwh: "12.00"            # LD rate

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

from ..errors import DataMissingError
from ..timebase import next_period, parse_period, period_of
from ..units import PICO_PER_USD, WH_PER_MWH
from .base import PeriodLine, choice, dec, frac_str

KIND = "min_delivery"
PERIODS = ("month", "calendar_year", "contract_year")
SCHEMA = {
    "required": ["guaranteed_mwh", "period", "ld_usd_per_mwh"],
    "properties": {
        "guaranteed_mwh": {"$ref": "#/$defs/nonneg_decimal"},
        "period": {"enum": list(PERIODS)},
        "ld_usd_per_mwh": {"$ref": "#/$defs/nonneg_decimal"},
    },
}


@dataclass(frozen=True)
class Params:
    guaranteed_mwh: Fraction
    period: str
    ld_usd_per_mwh: Fraction


def parse(raw: dict, where: str) -> Params:
    return Params(dec(raw, "guaranteed_mwh", where, required=True, lo=0),
                  choice(raw, "period", where, PERIODS, "contract_year"),
                  dec(raw, "ld_usd_per_mwh", where, required=True, lo=0))


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
    gq_wh = p.guaranteed_mwh * WH_PER_MWH * Fraction(len(months), len(full))
    short_mwh = max(gq_wh - delivered_wh, Fraction(0)) / WH_PER_MWH
    desc = (term.description or "Minimum delivery shortfall") + (
        f": {months[0]}..{months[-1]} guaranteed {frac_str(gq_wh / WH_PER_MWH)} MWh, "
        f"delivered {frac_str(Fraction(delivered_wh, WH_PER_MWH))} MWh")
    return [PeriodLine(term.id, KIND, desc, short_mwh, "MWh", p.ld_usd_per_mwh, "USD/MWh",
                       short_mwh * p.ld_usd_per_mwh * PICO_PER_USD)]
