"""Small inline SVG charts for the HTML report: no JavaScript, no network, no fonts to fetch.

Each function returns one ``<svg>`` element as text. Points and bars carry a ``<title>``
so a browser shows the exact value on hover.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
UP, DOWN, FLAT = "#2e7d32", "#c62828", "#757575"

_W, _H = 560, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 44, 36
_LEGEND_Y = 32


def _frame(title: str, width: int = _W, height: int = _H) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
    ]


def _y_axis(lo: float, hi: float, plot_h: float, width: int = _W) -> list[str]:
    parts = []
    for tick in _ticks(lo, hi):
        y = _TOP + plot_h * (1 - (tick - lo) / ((hi - lo) or 1))
        parts.append(f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    return parts


def _legend(labels: Sequence[str], width: int = _W) -> list[str]:
    """One row under the title, left to right."""
    parts: list[str] = []
    x = float(_LEFT)
    for i, label in enumerate(labels):
        if x > width - 60:
            break
        parts.append(f'<rect x="{x:.0f}" y="{_LEGEND_Y - 9}" width="10" height="10" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14:.0f}" y="{_LEGEND_Y}">{escape(label)}</text>')
        x += 30 + 6.6 * len(label)
    return parts


def histogram(
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    bins: int = 10,
    lo: float = 0.0,
    hi: float = 1.0,
) -> str:
    """Side-by-side bars: the share of each series' values in each bin of [lo, hi]."""
    values = {k: [v for v in vs if v is not None and math.isfinite(v)] for k, vs in series.items()}
    everything = [v for vs in values.values() for v in vs]
    if everything:
        lo, hi = min(lo, min(everything)), max(hi, max(everything))
    span = (hi - lo) or 1.0
    shares: dict[str, list[float]] = {}
    for label, vs in values.items():
        counts = [0] * bins
        for v in vs:
            counts[min(bins - 1, int((v - lo) / span * bins))] += 1
        shares[label] = [c / len(vs) if vs else 0.0 for c in counts]
    top = max((s for ss in shares.values() for s in ss), default=0.0) or 1.0
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    parts = _frame(title) + _y_axis(0.0, top, plot_h) + _legend(list(shares))
    slot = plot_w / bins
    bar = slot * 0.8 / max(1, len(shares))
    for b in range(bins):
        x0 = _LEFT + b * slot + slot * 0.1
        for i, (label, ss) in enumerate(shares.items()):
            h = plot_h * ss[b] / top
            edge_lo, edge_hi = lo + span * b / bins, lo + span * (b + 1) / bins
            parts.append(
                f'<rect x="{x0 + i * bar:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)}: '
                f"{ss[b]:.0%} of cases in [{_fmt(edge_lo)}, {_fmt(edge_hi)})</title></rect>")
        parts.append(f'<text x="{_LEFT + b * slot:.1f}" y="{_H - _BOTTOM + 14}" '
                     f'text-anchor="middle">{_fmt(lo + span * b / bins)}</text>')
    parts.append(f'<text x="{_W - _RIGHT}" y="{_H - _BOTTOM + 14}" text-anchor="end">'
                 f"{_fmt(hi)}</text>")
    parts.append(f'<text x="{_LEFT}" y="{_H - 6}">share of cases per score bin</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def delta_scatter(
    points: Sequence[tuple[str, float, float]],
    *,
    title: str,
    x_label: str = "baseline score",
) -> str:
    """One dot per case at (baseline value, candidate − baseline), green up, red down."""
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    xs = [p[1] for p in points] or [0.0, 1.0]
    ds = [p[2] for p in points] or [0.0]
    x_lo, x_hi = min(0.0, min(xs)), max(1.0, max(xs))
    pad = (x_hi - x_lo) * 0.03  # keep dots at the ends inside the frame
    x_lo, x_hi = x_lo - pad, x_hi + pad
    reach = max(0.05, max(abs(d) for d in ds)) * 1.08
    parts = _frame(title) + _y_axis(-reach, reach, plot_h)
    zero_y = _TOP + plot_h / 2
    parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{zero_y}" y2="{zero_y}" '
                 'stroke="#424242"/>')
    for case_id, x, d in points:
        # A few pixels of jitter, fixed per case id, so equal points do not hide each other.
        jx, jy = _jitter(case_id)
        cx = _LEFT + plot_w * (x - x_lo) / ((x_hi - x_lo) or 1) + jx
        cy = _TOP + plot_h * (1 - (d + reach) / (2 * reach)) + jy
        colour = UP if d > 1e-12 else DOWN if d < -1e-12 else FLAT
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}" '
                     f'fill-opacity="0.6"><title>{escape(case_id)}: {_fmt(x)} → '
                     f"{_fmt(x + d)} ({d:+.3f})</title></circle>")
    for tick in _ticks(x_lo, x_hi):
        x = _LEFT + plot_w * (tick - x_lo) / ((x_hi - x_lo) or 1)
        parts.append(f'<text x="{x:.1f}" y="{_H - _BOTTOM + 14}" text-anchor="middle">'
                     f"{_fmt(tick)}</text>")
    parts.append(f'<text x="{_LEFT}" y="{_H - 6}">{escape(x_label)} (x) · change (y)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    series: Mapping[str, Sequence[tuple[int, float, str]]],
    *,
    title: str,
    x_labels: Sequence[str],
) -> str:
    """Lines over a shared x axis (e.g. runs, oldest first); points carry a tooltip."""
    width = max(_W, _LEFT + _RIGHT + 28 * len(x_labels))
    plot_w, plot_h = width - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    ys = [p[1] for pts in series.values() for p in pts]
    lo, hi = min([0.0, *ys]), max([1.0, *ys])
    parts = _frame(title, width) + _y_axis(lo, hi, plot_h, width) + _legend(list(series), width)
    n = max(1, len(x_labels) - 1)

    def at(i: int, y: float) -> tuple[float, float]:
        return (_LEFT + plot_w * (i / n if len(x_labels) > 1 else 0.5),
                _TOP + plot_h * (1 - (y - lo) / ((hi - lo) or 1)))

    for k, (label, pts) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = [at(i, y) for i, y, _ in pts]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')
        for (x, y), (_, value, tip) in zip(coords, pts, strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                         f"<title>{escape(label)}: {_fmt(value)} — {escape(tip)}</title></circle>")
    step = max(1, math.ceil(len(x_labels) / 12))
    for i in range(0, len(x_labels), step):
        x, _ = at(i, lo)
        parts.append(f'<text x="{x:.1f}" y="{_H - _BOTTOM + 14}" text-anchor="middle">'
                     f"{escape(x_labels[i])}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _jitter(key: str, pixels: float = 3.0) -> tuple[float, float]:
    digest = zlib.crc32(key.encode("utf-8"))
    low, high = (digest & 0xFFFF) / 0xFFFF, (digest >> 16) / 0xFFFF
    return (low - 0.5) * 2 * pixels, (high - 0.5) * 2 * pixels


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"
