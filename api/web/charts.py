"""The dashboard's charts, drawn on the server as SVG: no chart library, no script, nothing to load.

Each chart scales to its container (``viewBox``, width 100%), so it reads on a 360 px phone as on a
desk. Colours come from the stylesheet by class; every chart has a title and a text table beside it
for screen readers (``role="img"`` and ``aria-label``).
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape

WIDTH = 320
ROW = 26
LABEL = 96


def bars(title: str, rows: list[tuple[str, float, str]], say: Callable[[float], str] = "{:g}".format,
         mark: float | None = None, mark_label: str = "") -> Markup:
    """Horizontal bars: (label, value, css class) per row, each value in words by ``say``; ``mark`` draws a
    target line across them."""
    top = max([v for _, v, _ in rows] + [mark or 0, 1])
    span = WIDTH - LABEL - 44
    height = ROW * len(rows) + (18 if mark is not None else 4)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value, css) in enumerate(rows):
        y = i * ROW + 4
        w = 0 if value <= 0 else max(2.0, span * value / top)
        shown = say(value)
        parts.append(f'<text class="chart-label" x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect class="bar {escape(css)}" x="{LABEL}" y="{y}" width="{w:.1f}" height="{ROW - 8}" rx="3"/>')
        parts.append(f'<text class="chart-value" x="{LABEL + w + 4:.1f}" y="{y + 15}">{escape(shown)}</text>')
    if mark is not None:
        x = LABEL + span * mark / top
        parts.append(f'<line class="target" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 14}"/>')
        parts.append(f'<text class="chart-note" x="{x:.1f}" y="{height - 2}" text-anchor="middle">'
                     f"{escape(mark_label)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def share(title: str, value: float | None, target: float) -> Markup:
    """A share against its target (the 90% of high-risk cases handled in time)."""
    height = 44
    span = WIDTH - 8
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<rect class="track" x="4" y="6" width="{span}" height="16" rx="3"/>']
    if value is not None:
        css = "ok" if value >= target else "late"
        parts.append(f'<rect class="bar {css}" x="4" y="6" width="{span * value:.1f}" height="16" rx="3"/>')
    x = 4 + span * target
    parts.append(f'<line class="target" x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="26"/>')
    parts.append(f'<text class="chart-note" x="{x:.1f}" y="40" text-anchor="middle">目标 {target:.0%}</text>')
    shown = "暂无数据" if value is None else f"{value:.0%}"
    parts.append(f'<text class="chart-value" x="8" y="40">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
