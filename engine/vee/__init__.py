"""Validation, estimation and editing (VEE) of one site's interval meter data."""
from __future__ import annotations

from .grid import METHOD_NAMES, QUALITY_NAMES
from .reporting import format_report, report
from .run import (METHOD_FLAT, METHOD_LIKEDAY, METHOD_LIN, METHOD_MISSING, QUALITY_ESTIMATED,
                  QUALITY_MISSING, VEE_COLUMNS, VEE_SCHEMA, ChannelVee, Finding, MeterRows,
                  VeeConfig, VeeCounts, VeeResult, run_vee)
