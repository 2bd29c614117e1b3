"""The meter-data quality page: a site-month's VEE report and a chart of its intervals
by day, actual vs estimated (and missing), across the channels the report covers.

The counts come from the same read-and-validate a settlement does
(``jobs.settle_inputs.validate_site_month``); days are the site's local days. The chart
is inline SVG (``engine.charts.lines``): printable, offline.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore


def vee_with_chart(store: "ObjectStore", site_id: str, period: str) -> tuple[dict[str, Any], str]:
    """``(report, svg)``: ``api.views.vee_report``'s document and the daily chart."""
    import numpy as np

    from engine import charts
    from engine.errors import UnknownReferenceError
    from engine.timebase import local_fields
    from engine.vee import report as vee_report
    from jobs.settle_inputs import validate_site_month
    from storage.sites import load_sites
    from storage.tables import Tables
    site = load_sites(store).get(site_id)
    if site is None:
        raise UnknownReferenceError(f"unknown site {site_id!r}")
    result = validate_site_month(Tables(store), site, period, as_of=None)
    doc = vee_report(result, period=period)
    days: dict[int, list[int]] = {}
    for ch in result.channels.values():
        if ch.grid_us.size == 0:
            continue
        day = local_fields(ch.grid_us, result.timezone).day
        q = ch.quality
        for name, mask in (("A", q == "A"), ("E", np.isin(q, ("E", "S", "F"))), ("N", q == "N")):
            d, n = np.unique(day[mask], return_counts=True)
            for k, c in zip(d.tolist(), n.tolist()):
                days.setdefault(k, [0, 0, 0])["AEN".index(name)] += c
    order = sorted(days)
    from datetime import date, timedelta
    labels = [(date(1970, 1, 1) + timedelta(days=k)).strftime("%d") for k in order]
    svg = charts.lines(labels, [("actual", [float(days[k][0]) for k in order]),
                                ("estimated", [float(days[k][1]) for k in order]),
                                ("missing", [float(days[k][2]) for k in order])],
                       title=f"{site_id} {period}: intervals by local day, actual vs estimated",
                       y_label="intervals")
    return doc, svg
