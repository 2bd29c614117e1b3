"""ISO market settlement: shadow settlement of day-ahead and real-time statements, their
reconciliation against the ISO's statements, and the chain from bid to bill.

Pure compute (no I/O, clock or environment), like all of ``engine``:

==================  ==============================================================
module              holds
==================  ==============================================================
``resources``       ISO resources of a site (the registry's ``market.resources``)
``units``           energy in 1/12 Wh, amounts in 1/12 pico-USD, the cent rounding
``series``          exact alignment of awards, meter readings and prices to a grid
``inputs``          ``MarketInputs``: what a shadow settlement reads
``lines``           ``Lines`` (one charge type's lines) and the ``shadow`` table
``rules``           the rule sets: (ISO, charge types, operating-date range) -> module
``ercot/``          DAESAMT, DAEPAMT, RTEIAMT (before / from RTC+B), BPDAMT, RTSPP
``pjm/``            day-ahead (1200/1210/1220), balancing hourly and 5-minute (1205/...)
``caiso/``          CC 6011, 6460, 6470, 6475
``shadow``          ``shadow_settle``: one resource over operating days
``reconcile``       shadow vs statement line by line; statement version deltas
``bidtobill``       awards -> metered -> ISO settlement -> PPA invoice, reconciled
``report``          dispute and chain reports as rows, CSV and HTML
==================  ==============================================================

Conventions. Every amount follows the ISOs' statement convention: **> 0 is a charge
to the market participant, < 0 a payment to it** (ERCOT's ``(-1) x`` in front of a
payment). A line is one charge type x resource x settlement interval (an hour for
day-ahead); its amount is computed exactly and rounded once to cents, half away from
zero; totals are sums of lines. Each charge-type module says in its docstring which
protocol or manual section it follows and whether the equation was **confirmed**
from a source read or is recalled (``CONFIRMED``; ``rules.describe`` lists them).
"""
