"""A schedule's cadence in words ("every 5 minutes", "every day at 03:30 UTC"), for the
schedule list and page: staff should not have to read a cron line or a type letter."""

from __future__ import annotations

import re

from django_q.models import Schedule

_EVERY = {
    Schedule.HOURLY: "every hour", Schedule.DAILY: "every day", Schedule.WEEKLY: "every week",
    Schedule.BIWEEKLY: "every two weeks", Schedule.MONTHLY: "every month", Schedule.BIMONTHLY: "every two months",
    Schedule.QUARTERLY: "every quarter", Schedule.YEARLY: "every year",
}
_NUMBER = re.compile(r"^\d{1,2}$")
_STEP = re.compile(r"^\*/(\d{1,2})$")


def minutes(n: int) -> str:
    return "every minute" if n == 1 else f"every {n} minutes"


def cron_words(cron: str) -> str:
    """The common shapes in words; anything else as the cron line itself."""
    parts = cron.split()
    if len(parts) != 5:
        return f"cron {cron}"
    minute, hour, day, month, weekday = parts
    rest_any = (day, month, weekday) == ("*", "*", "*")
    if rest_any and hour == "*" and (step := _STEP.match(minute)):
        return minutes(int(step.group(1)))
    if rest_any and minute == "*" and hour == "*":
        return minutes(1)
    if rest_any and hour == "*" and _NUMBER.match(minute):
        return f"every hour at minute {int(minute)}"
    if rest_any and _NUMBER.match(minute) and _NUMBER.match(hour):
        return f"every day at {int(hour):02d}:{int(minute):02d} UTC"
    return f"cron {cron}"


def cadence(schedule: Schedule) -> str:
    kind = schedule.schedule_type
    if kind == Schedule.ONCE:
        return "once"
    if kind == Schedule.MINUTES:
        return minutes(schedule.minutes or 1)
    if kind == Schedule.CRON:
        return cron_words(schedule.cron or "")
    return _EVERY.get(kind, kind)
