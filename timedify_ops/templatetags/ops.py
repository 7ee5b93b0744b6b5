"""{% ops_status_strip %}: the compact status line above the admin index's app list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import template

from timedify_ops import stats

register = template.Library()


@register.inclusion_tag("admin/ops_status_strip.html")
def ops_status_strip() -> dict[str, Any]:
    # Three cheap indexed queries: latest health/alerting runs, open dead letters, last hour.
    from deadletters.models import DeadLetter

    errors = stats.error_rate(timedelta(hours=1))
    return {
        "status": stats.overall_status(),
        "open_dead_letters": DeadLetter.objects.unresolved().count(),
        "error_pct": errors["error_rate"] * 100,
        "events": errors["events"],
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
