"""The VEE report of one site and range: a JSON-able document and a text table.

``report(result)`` builds the document (stable key order, exact integers, MWh as
decimal strings with 6 places); ``format_report(doc)`` renders it for a terminal.
``m2c vee --format json`` prints the document; ``--format table`` the text.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..timebase import from_us
from ..units import wh_to_mwh_str
from .codes import (METHOD_FLAT, METHOD_LIKEDAY, METHOD_LIN, METHOD_MISSING, METHOD_SOURCE,
                    METHOD_SPLIT, METHOD_SUM)
from .result import VeeResult

#: methods the table lists per channel (every one but ``ACT``)
_ESTIMATE_METHODS = (METHOD_LIN, METHOD_FLAT, METHOD_LIKEDAY, METHOD_SPLIT, METHOD_SUM,
                     METHOD_SOURCE, METHOD_MISSING)


def _iso_us(us: int) -> str:
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%SZ")


def report(result: VeeResult, period: str | None = None) -> dict:
    """JSON-able VEE report (see the module docstring)."""
    channels = {}
    for name in sorted(result.channels):
        c = result.channels[name]
        methods, counts = np.unique(c.method, return_counts=True)
        channels[name] = {
            "kind": c.kind,
            "interval_minutes": c.interval_minutes,
            **c.counts.to_dict(),
            "energy_wh": c.energy_total_wh,
            "energy_mwh": wh_to_mwh_str(c.energy_total_wh),
            "methods": {str(m): int(n) for m, n in zip(methods, counts)},
        }
    return {
        "site_id": result.site_id,
        "timezone": result.timezone,
        "period": period,
        "start_utc": _iso_us(result.start_us),
        "end_utc": _iso_us(result.end_us),
        "config": {k: list(v) if isinstance(v, tuple) else v
                   for k, v in asdict(result.config).items()},
        "vee": result.counts.to_dict(),
        "channels": channels,
        "findings_by_check": result.findings_by_check(),
        "findings": [f.to_dict() for f in result.findings],
    }


def text_table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Lines of a plain-text table; columns whose index is in ``right`` are right-aligned."""
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
              for i in range(len(header))]
    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def format_report(doc: dict, max_findings: int = 50) -> str:
    """Human-readable rendering of a ``report`` document."""
    title = f"VEE {doc['site_id']}"
    if doc.get("period"):
        title += f" {doc['period']}"
    out = [f"{title} ({doc['timezone']}; {doc['start_utc']} .. {doc['end_utc']})", ""]
    rows = []
    for name, c in doc["channels"].items():
        est = ", ".join(f"{m} {n}" for m, n in c["methods"].items() if m in _ESTIMATE_METHODS)
        rows.append([name, c["kind"], str(c["interval_minutes"]), str(c["intervals_expected"]),
                     str(c["actual"]), str(c["estimated"]), str(c["missing"]), c["energy_mwh"],
                     est])
    v = doc["vee"]
    rows.append(["(site)", "", "", str(v["intervals_expected"]), str(v["actual"]),
                 str(v["estimated"]), str(v["missing"]), "", ""])
    out += text_table(["channel", "kind", "min", "expected", "actual", "estimated", "missing",
                   "MWh", "methods"], rows, {2, 3, 4, 5, 6, 7})
    out.append("")
    findings = doc["findings"]
    if not findings:
        out.append("no findings")
        return "\n".join(out)
    by = ", ".join(f"{k} {n}" for k, n in doc["findings_by_check"].items())
    out.append(f"findings: {len(findings)} ({by})")
    frows = [[f["severity"], f["check"], f["channel"] or "-", f["start_utc"], f["end_utc"],
              f["detail"]] for f in findings[:max_findings]]
    out += text_table(["severity", "check", "channel", "start_utc", "end_utc", "detail"],
                      frows, set())
    if len(findings) > max_findings:
        out.append(f"... {len(findings) - max_findings} more (use --format json)")
    return "\n".join(out)


__all__ = ["report", "format_report", "text_table"]
