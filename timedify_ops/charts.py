"""Small server-rendered SVG charts for the dashboard: no JavaScript, no CDN.

Every number is formatted by us and every label goes through format_html, so the markup
is safe whatever a topic or name contains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from timedify_ops.figures import targets
from timedify_ops.series import Series

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 22, 24
# Each line its own colour; SLO lines share one that no data line uses.
COLOURS = {"p50": "#2f6fb8", "p95": "#d68f2f", "p99": "#b8413a", "errors": "#b8413a", "volume": "#417690"}
SLO_COLOUR = "#6b4fa0"


@dataclass
class Line:
    label: str
    values: Sequence[float | None]
    colour: str
    width: float = 1.6


@dataclass
class Threshold:
    label: str
    value: float


def _x(i: int, n: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * (i + 0.5) / n if n else 0)


def _y(v: float, top: float) -> float:
    span = HEIGHT - TOP - BOTTOM
    return HEIGHT - BOTTOM - span * min(v, top) / top if top else HEIGHT - BOTTOM


def _frame(title: str, top: float, unit: str, labels: Sequence[str], body: SafeString) -> SafeString:
    n = len(labels)
    step = max(1, n // 6)
    ticks = format_html_join(
        "", '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
        ((f"{_x(i, n):.1f}", HEIGHT - 6, labels[i]) for i in range(0, n, step)),
    )
    grid = format_html_join(
        "", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><text x="{}" y="{}" class="tick" '
        'text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{_y(top * f, top):.1f}", f"{_y(top * f, top):.1f}", LEFT - 4,
             f"{_y(top * f, top) + 4:.1f}", _fmt(top * f, unit))
            for f in (0, 0.5, 1)
        ),
    )
    return format_html(
        '<svg class="ops-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}{}{}</svg>',
        title, WIDTH, HEIGHT, title, grid, ticks, body,
    )


def _fmt(v: float, unit: str) -> str:
    if unit == "%":
        return f"{v * 100:.3g} %"
    if unit == "ms":
        return f"{v:.0f} ms"
    return f"{v:.0f}"


def _thresholds(items: Sequence[Threshold], top: float, unit: str) -> SafeString:
    return format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="slo" stroke="{}" stroke-dasharray="4 3" data-slo="{}"/>'
        '<text x="{}" y="{}" class="slo-label" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{_y(t.value, top):.1f}", f"{_y(t.value, top):.1f}", SLO_COLOUR, t.label,
             WIDTH - RIGHT - 2, f"{_y(t.value, top) - 3:.1f}", f"SLO {t.label} {_fmt(t.value, unit)}")
            for t in items
        ),
    )


def _legend_positions(entries: Sequence[tuple[str, str, str]]) -> list[int]:
    """Left edge of each legend entry, spaced by the length of the ones before it."""
    xs, x = [], LEFT
    for label, _, _ in entries:
        xs.append(x)
        x += 30 + 6 * len(label)
    return xs


def _top(peak: float, unit: str) -> float:
    """The axis' top: a little above the peak, and for a rate never above 100 %."""
    top = peak * 1.1 if peak > 0 else 1.0
    return min(top, 1.0) if unit == "%" else top


def line_chart(
    title: str, labels: Sequence[str], lines: Sequence[Line], thresholds: Sequence[Threshold], unit: str
) -> SafeString:
    """Lines are drawn in the order given, each later one on top: give the highest first
    (p99, p95, p50) so a lower line that meets a higher one stays visible."""
    # The axis fits the data; an SLO line above it is named in the legend, not drawn.
    top = _top(max([v for line in lines for v in line.values if v is not None] + [0.0]), unit)
    shown = [t for t in thresholds if t.value <= top]
    n = len(labels)
    paths = []
    for line in lines:
        # Break the line where a bucket had no traffic instead of drawing it at zero.
        segments: list[list[str]] = [[]]
        for i, v in enumerate(line.values):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{_x(i, n):.1f},{_y(v, top):.1f}")
        for seg in segments:
            if len(seg) == 1:
                x, y = seg[0].split(",")
                paths.append(format_html('<circle cx="{}" cy="{}" r="2" fill="{}"/>', x, y, line.colour))
            elif seg:
                paths.append(
                    format_html(
                        '<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" data-series="{}"/>',
                        " ".join(seg), line.colour, line.width, line.label,
                    )
                )
    entries = [(line.label, line.colour, "") for line in lines]
    entries += [
        (f"SLO {t.label}" + ("" if t in shown else f" {_fmt(t.value, unit)} (above)"), SLO_COLOUR, "4 3")
        for t in thresholds
    ]
    legend = format_html_join(
        "",
        '<g class="legend-item" data-legend="{}"><line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="2" '
        'stroke-dasharray="{}"/><text x="{}" y="{}" class="legend">{}</text></g>',
        (
            (label, x, x + 14, 9, 9, colour, dash, x + 18, 13, label)
            for x, (label, colour, dash) in zip(_legend_positions(entries), entries, strict=True)
        ),
    )
    body = _thresholds(shown, top, unit) + mark_safe("".join(paths)) + legend  # noqa: S308 (format_html parts)
    return _frame(title, top, unit, labels, body)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[int], colour: str) -> SafeString:
    top = max(list(values) + [1]) * 1.1
    n = len(values)
    width = max(1.0, (WIDTH - LEFT - RIGHT) / max(n, 1) - 1)
    # One bar an hour (168 on the 7-day chart): the numbers are written by us, the colour
    # is ours, only the label is escaped (what format_html would escape of these).
    fill = escape(colour)
    bars = mark_safe("".join(  # noqa: S308 - every part escaped or a number we formatted
        f'<rect x="{_x(i, n) - width / 2:.1f}" y="{_y(v, top):.1f}" width="{width:.1f}" '
        f'height="{HEIGHT - BOTTOM - _y(v, top):.1f}" fill="{fill}"><title>{escape(labels[i])}: {int(v)}</title></rect>'
        for i, v in enumerate(values)
    ))
    return _frame(title, top, "", labels, bars)


def traffic_charts(s: Series, label_format: str) -> dict[str, SafeString]:
    """Volume, error rate and latency charts for one window, SLO lines drawn."""
    slo = targets()
    labels = [b.start.strftime(label_format) for b in s.buckets]
    return {
        "volume": bar_chart("Webhook volume", labels, [b.count for b in s.buckets], COLOURS["volume"]),
        "errors": line_chart(
            "Error rate", labels,
            [Line("error rate", [b.error_rate if b.count else None for b in s.buckets], COLOURS["errors"])],
            [Threshold("error rate", slo.error_rate)], "%",
        ),
        "latency": line_chart(
            "Ingest latency", labels,
            # Widest first: where two percentiles are equal, the narrower one drawn on top
            # still shows the wider one's edges.
            [
                Line("p99", [b.p99 for b in s.buckets], COLOURS["p99"], width=4.0),
                Line("p95", [b.p95 for b in s.buckets], COLOURS["p95"], width=2.6),
                Line("p50", [b.p50 for b in s.buckets], COLOURS["p50"], width=1.4),
            ],
            [Threshold("p95", slo.p95_ms), Threshold("p99", slo.p99_ms)], "ms",
        ),
    }
