"""Charts as inline SVG: printable, offline, deterministic (the same numbers give the
same bytes), for the HTML reports of scenarios, bankability runs, carbon statements
and the web console.

Pure string building, no JavaScript, no external asset: a report is one self-contained
HTML file an accountant can print. Every chart takes plain numbers (floats for
statistics; money is converted by the caller from exact cents) and returns an
``<svg>`` element with a ``<title>`` for accessibility and text labels in the
document's font.

* :func:`histogram`: the distribution of one measure across variants or paths;
* :func:`bars`: labelled bars (positive up, negative down), e.g. a waterfall of
  deltas against a base (:func:`waterfall` adds the running total);
* :func:`lines`: one or more series over a shared x axis (months, years), with
  optional shaded bands between two series (a P10–P90 fan);
* :func:`heatmap`: a grid of values (e.g. hour of day × day of month).
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["histogram", "bars", "waterfall", "lines", "heatmap", "nice_ticks", "PALETTE"]

#: colour-blind-safe categorical palette (Okabe–Ito)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_W, _H = 640, 280
_M = {"l": 64, "r": 16, "t": 28, "b": 44}          # margins: room for axis labels


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(x: float) -> str:
    """A coordinate with two decimals (stable bytes)."""
    return f"{x:.2f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("nice_ticks: bounds must be finite")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


def _fmt(v: float) -> str:
    """Tick label: thousands separators, k/M/bn suffixes for large magnitudes."""
    a = abs(v)
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if a >= div * 10:
            return f"{v / div:,.4g}{suffix}"
    return f"{v:,.6g}"


class _Frame:
    """Plot area, scales and axes of one chart."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, width: int, height: int):
        self.w, self.h = width, height
        self.px0, self.px1 = _M["l"], width - _M["r"]
        self.py0, self.py1 = height - _M["b"], _M["t"]
        self.yt = nice_ticks(y0, y1)
        self.y0, self.y1 = self.yt[0], self.yt[-1]
        self.x0, self.x1 = x0, x1 if x1 != x0 else x0 + 1

    def x(self, v: float) -> float:
        return self.px0 + (v - self.x0) / (self.x1 - self.x0) * (self.px1 - self.px0)

    def y(self, v: float) -> float:
        return self.py0 - (v - self.y0) / (self.y1 - self.y0) * (self.py0 - self.py1)

    def axes(self, y_label: str, x_ticks: Sequence[tuple[float, str]]) -> list[str]:
        out = []
        for t in self.yt:
            y = self.y(t)
            out.append(f'<line x1="{_f(self.px0)}" y1="{_f(y)}" x2="{_f(self.px1)}" y2="{_f(y)}" '
                       f'stroke="#e3e5e8" stroke-width="1"/>')
            out.append(f'<text x="{_f(self.px0 - 6)}" y="{_f(y + 4)}" text-anchor="end">'
                       f'{_e(_fmt(t))}</text>')
        out.append(f'<line x1="{_f(self.px0)}" y1="{_f(self.py0)}" x2="{_f(self.px1)}" '
                   f'y2="{_f(self.py0)}" stroke="#555" stroke-width="1"/>')
        for v, label in x_ticks:
            out.append(f'<text x="{_f(self.x(v))}" y="{_f(self.py0 + 16)}" text-anchor="middle">'
                       f'{_e(label)}</text>')
        out.append(f'<text x="14" y="{_f((self.py0 + self.py1) / 2)}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {_f((self.py0 + self.py1) / 2)})">{_e(y_label)}</text>')
        return out


def _svg(title: str, body: list[str], width: int, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" font-family="system-ui,sans-serif" '
            f'font-size="11" fill="#1b1f24"><title>{_e(title)}</title>'
            f'<text x="{_M["l"]}" y="16" font-size="13" font-weight="600">{_e(title)}</text>'
            + "".join(body) + "</svg>")


def _finite(values: Sequence[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what}: values must be finite")
    return out


def histogram(values: Sequence[float], *, title: str, x_label: str, bins: int = 30,
              markers: Sequence[tuple[str, float]] = (), width: int = _W, height: int = _H) -> str:
    """The distribution of ``values`` in ``bins`` equal bins; ``markers`` draws labelled
    vertical lines (e.g. ``("P50", 1.23)``, ``("base", 0.98)``)."""
    vals = _finite(values, "histogram")
    if not vals:
        return _svg(title, ['<text x="64" y="60">no values</text>'], width, height)
    lo, hi = min(vals), max(vals)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = [0] * bins
    for v in vals:
        counts[min(int((v - lo) / (hi - lo) * bins), bins - 1)] += 1
    fr = _Frame(lo, hi, 0, max(counts), width, height)
    ticks = [(t, _fmt(t)) for t in nice_ticks(lo, hi) if lo <= t <= hi]
    body = fr.axes("count", ticks)
    step = (hi - lo) / bins
    for i, c in enumerate(counts):
        x0, x1 = fr.x(lo + i * step), fr.x(lo + (i + 1) * step)
        body.append(f'<rect x="{_f(x0)}" y="{_f(fr.y(c))}" width="{_f(max(x1 - x0 - 1, 0.5))}" '
                    f'height="{_f(fr.py0 - fr.y(c))}" fill="{PALETTE[0]}"/>')
    for k, (label, v) in enumerate(markers):
        if lo <= v <= hi:
            x = fr.x(v)
            colour = PALETTE[(k + 1) % len(PALETTE)]
            body.append(f'<line x1="{_f(x)}" y1="{_f(fr.py1)}" x2="{_f(x)}" y2="{_f(fr.py0)}" '
                        f'stroke="{colour}" stroke-width="2" stroke-dasharray="4 3"/>')
            body.append(f'<text x="{_f(x + 3)}" y="{_f(fr.py1 + 10 + 12 * k)}" fill="{colour}">'
                        f'{_e(label)}</text>')
    body.append(f'<text x="{_f((fr.px0 + fr.px1) / 2)}" y="{height - 6}" text-anchor="middle">'
                f'{_e(x_label)}</text>')
    return _svg(title, body, width, height)


def bars(items: Sequence[tuple[str, float]], *, title: str, y_label: str,
         bases: Sequence[float] | None = None, width: int = _W, height: int = _H) -> str:
    """One bar per ``(label, value)``; positive values up in blue, negative down in
    orange. ``bases`` (same length) floats each bar at a base value (a waterfall)."""
    vals = _finite([v for _, v in items], "bars")
    base = _finite(bases, "bars") if bases is not None else [0.0] * len(vals)
    if not vals:
        return _svg(title, ['<text x="64" y="60">no values</text>'], width, height)
    ends = [b + v for b, v in zip(base, vals)]
    fr = _Frame(0, len(vals), min(0.0, *base, *ends), max(0.0, *base, *ends), width, height)
    labels = [(i + 0.5, label if len(label) <= 14 else label[:13] + "…")
              for i, (label, _) in enumerate(items)]
    body = fr.axes(y_label, labels if len(items) <= 12 else labels[:: max(1, len(items) // 12)])
    slot = (fr.px1 - fr.px0) / len(vals)
    for i, (b, v) in enumerate(zip(base, vals)):
        top, bottom = fr.y(max(b, b + v)), fr.y(min(b, b + v))
        colour = PALETTE[0] if v >= 0 else PALETTE[3]
        body.append(f'<rect x="{_f(fr.px0 + i * slot + slot * 0.15)}" y="{_f(top)}" '
                    f'width="{_f(slot * 0.7)}" height="{_f(max(bottom - top, 0.5))}" fill="{colour}">'
                    f'<title>{_e(items[i][0])}: {_e(_fmt(v))}</title></rect>')
    return _svg(title, body, width, height)


def waterfall(base_label: str, base: float, deltas: Sequence[tuple[str, float]], *, title: str,
              y_label: str, total_label: str = "total", width: int = _W, height: int = _H) -> str:
    """A bridge from ``base`` through ``deltas`` to their total: the base bar, each
    delta floating at the running total, then the total bar."""
    running, floats = base, [0.0]
    items = [(base_label, base)]
    for label, d in deltas:
        floats.append(running)
        items.append((label, d))
        running += d
    items.append((total_label, running))
    floats.append(0.0)
    return bars(items, title=title, y_label=y_label, bases=floats, width=width, height=height)


def lines(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
          y_label: str, bands: Sequence[tuple[str, Sequence[float], Sequence[float]]] = (),
          width: int = _W, height: int = _H) -> str:
    """Series over a shared x axis (``x_labels``); ``bands`` shades ``(label, low,
    high)`` ranges behind them (a fan: P10–P90, P25–P75)."""
    n = len(x_labels)
    all_vals = [v for _, s in series for v in _finite(s, "lines")]
    all_vals += [v for _, lo, hi in bands for v in _finite([*lo, *hi], "lines")]
    if not n or not all_vals:
        return _svg(title, ['<text x="64" y="60">no values</text>'], width, height)
    fr = _Frame(0, max(n - 1, 1), min(all_vals), max(all_vals), width, height)
    every = max(1, n // 12)
    body = fr.axes(y_label, [(i, x_labels[i]) for i in range(0, n, every)])
    for k, (label, lo, hi) in enumerate(bands):
        pts = [(fr.x(i), fr.y(v)) for i, v in enumerate(hi)] + \
              [(fr.x(i), fr.y(v)) for i, v in reversed(list(enumerate(lo)))]
        body.append(f'<polygon points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in pts)}" '
                    f'fill="{PALETTE[0]}" fill-opacity="{0.15 + 0.1 * k:.2f}">'
                    f'<title>{_e(label)}</title></polygon>')
    for k, (label, s) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{_f(fr.x(i))},{_f(fr.y(v))}" for i, v in enumerate(s))
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body.append(f'<text x="{_f(fr.px1 - 4)}" y="{_f(fr.py1 + 12 * (k + 1))}" text-anchor="end" '
                    f'fill="{colour}">{_e(label)}</text>')
    return _svg(title, body, width, height)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float | None]], *,
            title: str, value_label: str, lo: float = 0.0, hi: float = 1.0,
            width: int = _W, height: int = _H) -> str:
    """A grid of cells coloured from white (``lo``) to blue (``hi``); None cells are
    hatched grey (no data)."""
    if not rows or not cols:
        return _svg(title, ['<text x="64" y="60">no values</text>'], width, height)
    px0, px1, py0, py1 = _M["l"], width - _M["r"], _M["t"] + 6, height - _M["b"]
    cw, ch = (px1 - px0) / len(cols), (py1 - py0) / len(rows)
    body = []
    for r, row in enumerate(values):
        for c, v in enumerate(row):
            x, y = px0 + c * cw, py0 + r * ch
            if v is None:
                fill = "#d0d3d8"
            else:
                t = min(max((float(v) - lo) / (hi - lo) if hi != lo else 0.0, 0.0), 1.0)
                fill = "#%02x%02x%02x" % (int(255 - t * 255), int(255 - t * 141), int(255 - t * 77))
            body.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(cw)}" height="{_f(ch)}" '
                        f'fill="{fill}"><title>{_e(rows[r])} {_e(cols[c])}: '
                        f'{_e("no data" if v is None else _fmt(v))}</title></rect>')
    every_r, every_c = max(1, len(rows) // 12), max(1, len(cols) // 16)
    for r in range(0, len(rows), every_r):
        body.append(f'<text x="{_f(px0 - 4)}" y="{_f(py0 + (r + 0.7) * ch)}" text-anchor="end">'
                    f'{_e(rows[r])}</text>')
    for c in range(0, len(cols), every_c):
        body.append(f'<text x="{_f(px0 + (c + 0.5) * cw)}" y="{_f(py1 + 14)}" '
                    f'text-anchor="middle">{_e(cols[c])}</text>')
    body.append(f'<text x="{_f(px1)}" y="{height - 6}" text-anchor="end">{_e(value_label)}: '
                f'{_e(_fmt(lo))} (white) to {_e(_fmt(hi))} (blue)</text>')
    return _svg(title, body, width, height)
