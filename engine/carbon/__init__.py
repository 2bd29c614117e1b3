"""Carbon tracing of every MWh, beside the money: Scope 1 and 2, 24/7 CFE, granular certificates.

Pure compute (no I/O, clock or environment), exact integers like ``engine.money``:

================  ============================================================================
``units``         the units (Wh, millibtu, 1e-13 kg, mg/MWh, ppm, uWh) and the one rounding
                  rule of reported figures
``factors``       emission factors as a versioned reference document (40 CFR 98 Tables C-1,
                  C-2), GWP sets AR4/AR5 (Table A-1; regulatory default AR5), each row cited
``balancing``     the EIA balancing-authority codes a grid factor or a site may name
``classify``      a traced site's channels by role (combustion, carbon-free, storage, grid,
                  load) and its validation (a combustion channel needs fuel or a heat rate)
``hourly``        intervals -> UTC hours (exact sums), hourly grid factors
``scope1``        fuel per hour (metered, heat rate, heat-rate curve) and mass per gas
``attribution``   the hour-by-hour mix: storage pool, proportional sinks, Scope 2 location-
                  and market-based, CFE inputs, delivered energy's carbon
``cfe``           the 24/7 CFE formula, hourly / monthly / yearly, volumetric beside it
``statement``     a site-month's exact partial (map), ``combine`` (reduce), the ESG annex
``certificates``  granular certificates: issuance (face value rounded down to a whole Wh),
                  states, EnergyTag GC Registry API v2 export shape
``report``        the ESG report: document, table, CSV and HTML with the CFE heat map
================  ============================================================================

Hours are UTC hours; local time (with DST) enters only the report's buckets. Carbon never
changes a money amount: it reads the same VEE channels and is recorded beside the invoice.
"""
