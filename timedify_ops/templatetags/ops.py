"""{% ops_status_strip %}: the compact status line above the admin index's app list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.conf import settings

from timedify_ops import figures, stats

register = template.Library()


@register.inclusion_tag("admin/ops_status_strip.html")
def ops_status_strip() -> dict[str, Any]:
    # The dashboard's own figures: the system's status, the backlog and the alert window's
    # error rate, each computed now (cheap indexed queries).
    errors = figures.errors(timedelta(minutes=settings.ALERT_WINDOW_MINUTES))
    return {
        "status": stats.overall_status(),
        "open_dead_letters": figures.open_dead_letters(),
        "error_rate": errors.rate,
        "events": errors.events,
        "window_minutes": settings.ALERT_WINDOW_MINUTES,
    }


@register.filter
def pct(value: float | None, digits: int = 2) -> str:
    """0.00512 -> '0.51 %'."""
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f} %"


@register.filter
def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} ms"


@register.filter
def iso_time(value: str | None) -> str:
    """An ISO timestamp from the figures (kept as text for /api/metrics), for people:
    "2026-11-24 02:14:49 UTC". Empty stays empty, so `|default:"never"` still works."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
