"""The TrafficHour rollup: settled hours of traffic, filled on demand.

An hour is settled OPS_ROLLUP_SETTLE_MINUTES after it ends (its events have had time to
be processed or dead-lettered). `fill()` rolls up every settled hour not yet in the table
with one grouped query and is a cheap no-op otherwise (one MAX over a unique index), so
the dashboard, /metrics and the SLO figures call it before reading; a schedule may call
`fill` too (timedify_ops.rollup.fill) to keep the page's first render fast.
Later changes to an hour's events (a replay that succeeds days later) do not change it:
the figures describe what happened in that hour. `rebuild()` recomputes a range.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, QuerySet
from django.utils import timezone

from timedify_ops.figures import HOUR, floor_to, histograms
from timedify_ops.models import TrafficHour


def settled_until(now: datetime) -> datetime:
    """Hours starting before this are settled."""
    return floor_to(now - timedelta(minutes=settings.OPS_ROLLUP_SETTLE_MINUTES), HOUR)


def fill(now: datetime | None = None) -> datetime:
    """Roll up every settled hour missing from the table; returns where the rollup ends
    (hours before it come from TrafficHour, the rest must be read live)."""
    now = now or timezone.now()
    end = settled_until(now)
    first = floor_to(now - timedelta(days=settings.OPS_ROLLUP_DAYS), HOUR)
    last = TrafficHour.objects.aggregate(m=Max("hour"))["m"]  # unique index on hour
    start = max(last + timedelta(hours=1), first) if last else first
    if start >= end:
        return end
    _store(start, end)
    # Keep the table small: the dashboard never looks further back than this.
    TrafficHour.objects.filter(hour__lt=first).delete()
    return end


def _store(start: datetime, end: datetime) -> int:
    rows = histograms(start, end, HOUR)
    hours = []
    moment = start
    while moment < end:
        count, errors, histogram = rows.get(int(moment.timestamp()), (0, 0, {}))
        # Empty hours are stored too: they mark the hour as done.
        hours.append(
            TrafficHour(hour=moment, events=count, errors=errors, latency_histogram={str(b): n for b, n in histogram.items()})
        )
        moment += timedelta(hours=1)
    # Two pages filling at once: the unique hour makes the second insert a no-op.
    TrafficHour.objects.bulk_create(hours, batch_size=500, ignore_conflicts=True)
    return len(hours)


def rebuild(days: int, now: datetime | None = None) -> int:
    """Recompute the settled hours of the last `days` (after importing old events)."""
    now = now or timezone.now()
    start = floor_to(now - timedelta(days=days), HOUR)
    end = settled_until(now)
    TrafficHour.objects.filter(hour__gte=start).delete()
    return _store(start, end) if start < end else 0


def hours(since: datetime, until: datetime) -> QuerySet[TrafficHour]:
    return TrafficHour.objects.filter(hour__gte=since, hour__lt=until).order_by("hour")
