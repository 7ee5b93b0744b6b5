"""The django-q2 schedules of our jobs, created or updated by name from settings.

django-q2's `schedule()` helper raises on a duplicate name and `Schedule.name` is not
unique, so rows are written with `update_or_create(name=...)`. `next_run` is set here:
django-q2 does not recompute it when a cron line or interval changes. A schedule whose
timing did not change keeps its next_run, so running setup twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from timedify_ops.jobtypes import RUN_FUNC, TITLES


@dataclass(frozen=True)
class Timing:
    minutes: int | None = None
    cron: str | None = None

    @property
    def schedule_type(self) -> str:
        return Schedule.CRON if self.cron else Schedule.MINUTES

    def next_after(self, now: datetime) -> datetime:
        if self.cron:
            return croniter(self.cron, now).get_next(datetime)
        return now + timedelta(minutes=self.minutes or 1)


def timings() -> dict[str, Timing]:
    """Each scheduled job's timing, from settings (read at call time, so tests can change it)."""
    result = {
        "retention_cleanup": Timing(cron=settings.SCHEDULE_RETENTION_CRON),
        "deadletter_cleanup": Timing(cron=settings.SCHEDULE_DEADLETTER_CLEANUP_CRON),
        "health_check": Timing(minutes=settings.SCHEDULE_HEALTH_MINUTES),
        "alerting_check": Timing(minutes=settings.SCHEDULE_ALERTING_MINUTES),
        "sweeper": Timing(minutes=settings.SCHEDULE_SWEEPER_MINUTES),
        "prune_django_q": Timing(cron=settings.SCHEDULE_Q_PRUNE_CRON),
    }
    for name, timing in result.items():
        if timing.cron and not croniter.is_valid(timing.cron):
            raise ImproperlyConfigured(f"The cron line for {name} is not valid: {timing.cron!r}")
    return result


def _same_timing(row: Schedule, timing: Timing) -> bool:
    if row.schedule_type != timing.schedule_type:
        return False
    if timing.cron:
        return row.cron == timing.cron
    return row.minutes == timing.minutes


@transaction.atomic
def setup_schedules(now: datetime | None = None) -> dict[str, list[str]]:
    """Create or update one schedule per job, named by the job's title. Touches only rows
    with those names. Returns the names created, updated (timing changed) and unchanged."""
    now = now or timezone.now()
    report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    for name, timing in timings().items():
        title = TITLES[name]
        rows = list(Schedule.objects.select_for_update().filter(name=title).order_by("pk"))
        # Duplicates of our own name (made by hand in the admin) would break update_or_create.
        for extra in rows[1:]:
            extra.delete()
        row = rows[0] if rows else None
        keep_next_run = row is not None and _same_timing(row, timing) and row.next_run is not None
        defaults: dict[str, Any] = {
            "func": RUN_FUNC,
            "args": repr(name),
            "kwargs": None,
            "schedule_type": timing.schedule_type,
            "minutes": timing.minutes,
            "cron": timing.cron,
            "repeats": -1,
            "next_run": row.next_run if keep_next_run and row else timing.next_after(now),
        }
        changed = row is None or any(getattr(row, k) != v for k, v in defaults.items())
        _, created = Schedule.objects.update_or_create(name=title, defaults=defaults)
        report["created" if created else "updated" if changed else "unchanged"].append(title)
    return report
