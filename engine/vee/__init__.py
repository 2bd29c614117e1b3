"""Validation, estimation and editing (VEE) of one site's interval meter data.

``run_vee(rows, site, start_us, end_us)`` takes the canonical meter rows of one
site (``engine.schema.METER_SCHEMA`` columns, or ``MeterRows`` arrays) and returns,
for every channel of the site, a **regular grid** over ``[start_us, end_us)`` of
validated and estimated interval energy, plus findings and counts. It is pure:
no I/O, no clock; the raw rows are never changed (storage keeps them as read).

Where each rule lives
---------------------
=================  ==============================================================
``rows``           ``MeterRows`` / ``ChannelRows``: the rows as read (from Arrow)
``grid``           step 1: the channel's interval (most common length, ties: the
                   shorter) and grid; which row supplies each slot: exact
                   duplicates (quality rank A > F > S > E), exact SPLIT of longer
                   rows, SUM of shorter ones, overlaps, misaligned rows
``checks``         step 2: ``negative``, ``impossible`` (above the nameplate limit;
                   both replaced by estimates), ``spike`` (flagged, kept)
``estimate``       step 3: ``LIN``, ``FLAT``, ``LIKEDAY``, else ``MISSING``; exact
                   integer Wh, rounded once half-even
``localdays``      local days of a UTC grid: like-day slots, 23/24/25-hour days
``findings``       ``Finding``; one function per named check (gap, negative,
                   impossible, spike, placement issues, no_data, unknown_channel,
                   dst_day)
``codes``          quality letters and method names, and their uint8 codes
``config``         ``VeeConfig``: the parameters of the rules above
``result``         ``VeeResult``, ``ChannelVee``, ``VeeCounts``, ``VEE_COLUMNS``
``run``            ``run_vee``: the steps per channel, then per site
``reporting``      ``report`` (JSON-able document), ``format_report`` (text)
``spans``          runs of slots and merged ranges of rows (what a finding spans)
=================  ==============================================================

Callers import from ``engine.vee``; the modules are for VEE's own code and tests.
"""
from __future__ import annotations

from .codes import (METHOD_FLAT, METHOD_LIKEDAY, METHOD_LIN, METHOD_MISSING, METHOD_NAMES,
                    QUALITY_ESTIMATED, QUALITY_MISSING, QUALITY_NAMES)
from .config import VeeConfig
from .findings import Finding
from .reporting import format_report, report
from .result import VEE_COLUMNS, VEE_SCHEMA, ChannelVee, VeeCounts, VeeResult
from .rows import MeterRows
from .run import run_vee

__all__ = ["VeeConfig", "Finding", "VeeCounts", "ChannelVee", "VeeResult", "MeterRows",
           "run_vee", "report", "format_report", "VEE_COLUMNS", "VEE_SCHEMA", "METHOD_LIN",
           "METHOD_FLAT", "METHOD_LIKEDAY", "METHOD_MISSING", "QUALITY_ESTIMATED",
           "QUALITY_MISSING", "QUALITY_NAMES", "METHOD_NAMES"]
