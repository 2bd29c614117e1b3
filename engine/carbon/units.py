"""Units of carbon accounting: exact integers, and the one rounding rule of reported figures.

Carbon is traced like money (``engine.money``): every interval and hourly quantity is an
exact integer in a unit chosen so that the published factors multiply without loss, and
a reported figure is an exact sum rounded **once**.

=================  ============================  ==============================================
suffix             one unit is                   why
=================  ============================  ==============================================
``_wh``            1 Wh                          meter energy (``engine.units``)
``_millibtu``      1e-3 BTU = 1e-9 MMBtu         fuel = Wh x heat rate: 1 Wh x 1 MMBtu/MWh =
                                                 1 BTU, and heat rates carry at most 3 decimals
                                                 (1 BTU/kWh), so fuel is an exact integer
``_100pg``         1e-13 kg (100 picograms)      mass. 40 CFR 98 factors carry at most 4
                                                 decimals of kg/MMBtu (N2O 1.0e-4, Table C-2):
                                                 1 millibtu x 1e-4 kg/MMBtu = 1e-13 kg; grid
                                                 energy x factor: 1 Wh x 1 mg/MWh = 1e-12 kg =
                                                 10 units. Both exact
``_mg_per_mwh``    1e-6 kg/MWh                   grid emission factors (kg/MWh to 6 places)
``_ppm``           1e-6 of a share               grid carbon-free share
``_uwh``           1e-6 Wh                       CFE sums (Wh x ppm); certificate issuance input
=================  ============================  ==============================================

Bounds. Interval and hourly masses of one flow are int64 in 1e-13 kg, i.e. at most
922 t CO2e; the products are checked (``engine.money.mul_exact``) and raise a
``ValueRangeError`` beyond, never wrap. Sums over a month or a year are Python ints.

The rounding rule of carbon (stated once, applied by :func:`mass_str`, :func:`ratio_str`):
**a reported mass is the exact sum of its 1e-13 kg units rounded once, half away from
zero, to the gram** (tonnes with 6 places, kilograms with 3); **an intensity (kg/MWh)
or a share (%) is the exact ratio of two exact sums rounded once, half away from zero**
(3 places of kg/MWh, 2 places of %). Nothing is rounded between the hour and the report,
so a statement does not depend on how site-months were partitioned, ordered or summed.

The only roundings before that, each stated where it happens:

* input quantisation: grid factors are read to 1 mg/MWh and CFE shares to 1 ppm, half-even
  (``storage.readers.grid_factors``); heat rates must have at most 3 decimals (refused
  otherwise, not rounded);
* a metered fuel channel's heat input (Wh, HHV) converted to millibtu once per
  channel-hour, half-even (:func:`wh_thermal_to_millibtu`);
* the proportional draws of the storage pool and of the hourly mix (``engine.carbon.
  attribution``), each rounded half-even to the unit, the remainder kept (in the pool, or
  given to the load), so every total is conserved exactly.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

from ..errors import ValidationError

MASS_UNITS_PER_KG = 10**13          # 1 unit = 1e-13 kg
MASS_UNITS_PER_G = 10**10
MASS_UNITS_PER_T = 10**16
#: mass units of 1 Wh at 1 mg/MWh (1e-6 MWh x 1e-6 kg/MWh = 1e-12 kg)
MASS_UNITS_PER_WH_MG_PER_MWH = 10
MILLIBTU_PER_MMBTU = 10**9
PPM = 1_000_000
UWH_PER_WH = 1_000_000
#: heat rate scale: MMBtu/MWh x 1000 (so Wh x heat rate = millibtu)
HEAT_RATE_SCALE = 1000
#: the International Table BTU, exactly 1055.05585262 J (ISO 31-4 / ISO 80000-5); 1 Wh = 3600 J
_MILLIBTU_PER_WH = Fraction(3600 * 1000 * 10**8, 105505585262)


def round_half_even(f: Fraction) -> int:
    """An exact rational rounded half-even to an integer (Python's ``round``)."""
    return round(Fraction(f))


def share(total: int, part: int, whole: int) -> int:
    """``total x part / whole`` rounded half-even (``whole`` > 0): a proportional draw.
    Integer arithmetic (it runs for every hour and flow): floor division, then the
    remainder decides, ties to the even quotient."""
    if not part or not total:
        return 0
    if part == whole:
        return total
    q, r = divmod(total * part, whole)
    r2 = 2 * r
    if r2 > whole or (r2 == whole and q & 1):
        q += 1
    return q


def wh_thermal_to_millibtu(wh: int) -> int:
    """A fuel meter's heat input in Wh (HHV) as millibtu, rounded once half-even."""
    return round(_MILLIBTU_PER_WH * int(wh))


def heat_rate_milli(value: object, *, where: str, file: str | None = None) -> int:
    """A heat rate in MMBtu/MWh (number or decimal text) as an integer x 1000, exactly.

    More than 3 decimals (finer than 1 BTU/kWh) or a value <= 0 is refused
    (``ValidationError`` naming ``where``), not rounded."""
    if isinstance(value, bool):
        raise ValidationError(f"heat rate must be a number, got {value!r}", file=file, field=where)
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        d = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationError(f"heat rate must be a number, got {value!r}", file=file, field=where) from None
    if not d.is_finite() or d <= 0:
        raise ValidationError(f"heat rate must be > 0 MMBtu/MWh, got {value!r}", file=file, field=where)
    scaled = d * HEAT_RATE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValidationError(f"heat rate {value!r} MMBtu/MWh has more than 3 decimals (1 BTU/kWh "
                              "is the resolution carbon tracing keeps exactly)", file=file, field=where)
    if scaled > 100 * HEAT_RATE_SCALE:
        raise ValidationError(f"heat rate {value!r} MMBtu/MWh is implausible (> 100)", file=file, field=where)
    return int(scaled)


def _half_away(f: Fraction) -> int:
    q, r = divmod(abs(f.numerator), f.denominator)
    n = q + (1 if 2 * r >= f.denominator else 0)
    return n if f >= 0 else -n


def _fixed(n: int, places: int) -> str:
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), 10**places)
    return f"{sign}{q}.{r:0{places}d}" if places else f"{sign}{q}"


def mass_str(units: int, unit: str = "t") -> str:
    """A mass (1e-13 kg units) rounded once, half away from zero, to the gram: tonnes
    with 6 places (``unit="t"``) or kilograms with 3 (``"kg"``)."""
    grams = _half_away(Fraction(int(units), MASS_UNITS_PER_G))
    if unit == "t":
        return _fixed(grams, 6)
    if unit == "kg":
        return _fixed(grams, 3)
    raise ValueError(f"unit must be t or kg, got {unit!r}")


def ratio_str(num: int | Fraction, den: int | Fraction, places: int, scale: int = 1) -> str | None:
    """``scale x num / den`` rounded once, half away from zero, to ``places``; None when
    ``den`` is 0 (no energy: no intensity, no share)."""
    if not den:
        return None
    f = Fraction(num) * scale / Fraction(den)
    return _fixed(_half_away(f * 10**places), places)


def intensity_str(mass_units: int, energy_wh: int) -> str | None:
    """kg CO2e per MWh, 3 places: ``mass / energy`` (1e-13 kg per Wh -> kg per MWh)."""
    return ratio_str(Fraction(mass_units, MASS_UNITS_PER_KG), Fraction(energy_wh, 10**6), 3)


def pct_str(num: int | Fraction, den: int | Fraction) -> str | None:
    """A share in percent, 2 places."""
    return ratio_str(num, den, 2, scale=100)


def mwh_str(wh: int) -> str:
    """Exact MWh, 6 places (1 Wh)."""
    return _fixed(int(wh), 6)


def mmbtu_str(millibtu: int) -> str:
    """Exact MMBtu, 9 places (1 millibtu)."""
    return _fixed(int(millibtu), 9)


__all__ = ["MASS_UNITS_PER_KG", "MASS_UNITS_PER_G", "MASS_UNITS_PER_T", "MASS_UNITS_PER_WH_MG_PER_MWH",
           "MILLIBTU_PER_MMBTU", "PPM", "UWH_PER_WH", "HEAT_RATE_SCALE", "round_half_even", "share",
           "wh_thermal_to_millibtu", "heat_rate_milli", "mass_str", "ratio_str", "intensity_str",
           "pct_str", "mwh_str", "mmbtu_str"]
