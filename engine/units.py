"""Fixed-point units used everywhere in meter2cash.

Money must be exact, so quantities that enter a price calculation are stored and
computed as scaled integers (int64), never as floats. The unit of the least
significant digit is part of every column name:

=========================  =====================  ===============================
column suffix              one unit is            example
=========================  =====================  ===============================
``_wh``                    1 Wh = 0.001 kWh       ``energy_wh`` (interval energy)
``_microusd_per_mwh``      1e-6 USD/MWh           ``lmp_microusd_per_mwh``
``_micro``                 1e-6 of the value      ``value_micro`` (index values)
``_picousd``               1e-12 USD              ``amount_picousd``
=========================  =====================  ===============================

Energy (Wh) x price (micro-USD/MWh) = 1e-6 MWh x 1e-6 USD/MWh = 1e-12 USD, so
interval amounts are exact integers in pico-dollars.

Input quantisation: user files give kWh and USD/MWh as decimals. Values with more
digits than the scale are rounded once, half-even, when they are read
(``decimal_to_scaled``); that is the only rounding before the invoice line.

Decimal text in input files is strict (:data:`DECIMAL_TEXT`, checked by the readers):
ASCII digits, one optional sign, one optional decimal point; no exponent, digit
separator (``1_000``), other digits (``１２``), inner spaces, ``NaN`` or ``Infinity``;
at most :data:`MAX_NUMBER_CHARS` characters. :func:`decimal_to_scaled` itself also
takes an exponent of at most four digits (``1e3``) and blanks around the number, and
refuses the rest of what Python's ``Decimal`` would read.

Bounds at ingest (``storage.ingest``, ``storage.readers``), so that no stored value
can overflow the engine's int64 arithmetic and an implausible reading is refused, not
billed:

* interval energy <= :data:`MAX_INTERVAL_POWER_KW` x interval hours (10 GW: above any
  single metered site), and, for a channel with a ``nameplate_kw`` in the site
  registry, <= :data:`NAMEPLATE_TOLERANCE` x nameplate x interval hours (VEE flags
  readings above ``VeeConfig.nameplate_tolerance`` x nameplate, 1.05 by default, and
  estimates them; a reading above twice the nameplate is a unit or multiplier error);
* market prices within +/- :data:`MAX_ABS_PRICE_USD_PER_MWH`.

The engine's interval amounts are int64 pico-dollars, so one interval's amount is at
most 9,223,372.04 USD; a product beyond that raises a ``ValueRangeError`` naming the
operands (``engine.money.mul_exact``), never wraps.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

WH_PER_KWH = 1_000
WH_PER_MWH = 1_000_000
MICRO = 1_000_000          # scale of prices and index values
PICO_PER_USD = 10**12      # scale of amounts
PICO_PER_CENT = 10**10

#: a decimal number in an input file: ASCII digits, one optional sign and decimal point
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
#: what :func:`decimal_to_scaled` reads from text: the same, with an optional exponent
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
#: the longest decimal text read (40 characters: 30 digits and a point are plenty)
MAX_NUMBER_CHARS = 40
#: the largest power a metered channel can show, kW (10 GW), whatever its registry entry
MAX_INTERVAL_POWER_KW = 10_000_000
#: readings above this multiple of a channel's nameplate energy are refused at ingest
NAMEPLATE_TOLERANCE = 2
#: prices (LMP and components) beyond +/- this, USD/MWh, are refused at ingest
MAX_ABS_PRICE_USD_PER_MWH = 1_000_000


def max_interval_wh(minutes: int, nameplate_kw: float | None = None) -> int:
    """The largest energy (Wh) accepted in one interval of ``minutes``: the absolute
    bound, or :data:`NAMEPLATE_TOLERANCE` x the nameplate energy when one is given."""
    kw = MAX_INTERVAL_POWER_KW if nameplate_kw is None else min(
        MAX_INTERVAL_POWER_KW, NAMEPLATE_TOLERANCE * nameplate_kw)
    return int(kw * 1000 * minutes // 60)


def decimal_to_scaled(value: str | int | float | Decimal, scale: int) -> int:
    """Convert a decimal number to an integer count of ``1/scale`` units.

    Rounds half-even when the value has more digits than the scale. Floats are
    converted through their shortest ``repr`` so ``20833.3`` means 20833.3. Text is
    ASCII decimal notation (an exponent of at most four digits allowed), blanks around
    it ignored. Raises ``ValueError`` for non-finite or unparsable values.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_NUMBER_CHARS or not _NUMBER_TEXT.fullmatch(value):
            raise ValueError(f"not a number: {value[:MAX_NUMBER_CHARS]!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        d = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return int((d * scale).to_integral_value(rounding=ROUND_HALF_EVEN))


def kwh_to_wh(value: str | int | float | Decimal) -> int:
    """kWh (decimal) -> integer Wh."""
    return decimal_to_scaled(value, WH_PER_KWH)


def usd_per_mwh_to_micro(value: str | int | float | Decimal) -> int:
    """USD/MWh (decimal) -> integer micro-USD/MWh."""
    return decimal_to_scaled(value, MICRO)


def scaled_to_decimal(value: int, scale: int) -> Decimal:
    """Integer count of ``1/scale`` units -> exact Decimal."""
    return Decimal(int(value)) / Decimal(scale)


def wh_to_mwh_str(value_wh: int) -> str:
    """Exact MWh as a decimal string with 6 places (1 Wh resolution)."""
    return f"{scaled_to_decimal(value_wh, WH_PER_MWH):.6f}"
