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
"""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

WH_PER_KWH = 1_000
WH_PER_MWH = 1_000_000
MICRO = 1_000_000          # scale of prices and index values
PICO_PER_USD = 10**12      # scale of amounts
PICO_PER_CENT = 10**10


def decimal_to_scaled(value: str | int | float | Decimal, scale: int) -> int:
    """Convert a decimal number to an integer count of ``1/scale`` units.

    Rounds half-even when the value has more digits than the scale. Floats are
    converted through their shortest ``repr`` so ``20833.3`` means 20833.3.
    Raises ``ValueError`` for non-finite or unparsable values.
    """
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
