"""ERCOT charge types, one module each (Nodal Protocols §4.6 DAM settlement, §6.6 RTM
settlement; the settlement-extract names of the bill determinants).

ERCOT's sign convention (the ``(-1) x`` in front of a payment): an amount < 0 is
paid to the QSE, > 0 charged to it. Day-ahead settles hourly; real time on 15-minute
Settlement Intervals (92 / 96 / 100 a day: the operating day is in Central
Prevailing Time). Real-time co-optimisation with batteries as single resources
(RTC+B) took effect for the 2025-12-05 operating day: ``engine.market.rules`` keys
each module by operating date.
"""
