"""What jobs, schedules and the figures share about jobs: the outcome a job reports, each
job's name and title, and how a django-q2 schedule names the job it runs.

It sits below `jobs` (which imports every job's module) and below the modules that define
jobs (retention, alerting) and the schedules, so none of them imports `jobs`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from django_q.models import Schedule

# The dotted path django-q2 schedules call; its single argument is the job's name.
RUN_FUNC = "timedify_ops.jobs.run"

# Every job by name, with the title its schedule and the admin show.
TITLES = {
    "retention_cleanup": "Retention cleanup",
    "deadletter_cleanup": "Dead-letter cleanup",
    "health_check": "Health check",
    "alerting_check": "Alerting check",
    "sweeper": "Sweeper",
    "prune_django_q": "Prune django-q2 results",
    # Not scheduled itself: recorded like the others when the command runs.
    "setup_schedules": "Set up schedules",
}


@dataclass
class Outcome:
    """What a job reports: status ok / warning / failed, one line for people, details for machines."""

    status: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def schedule_for(name: str) -> Schedule | None:
    """The schedule setup_schedules made for this job (by its title), if any."""
    return Schedule.objects.filter(name=TITLES[name], func=RUN_FUNC).order_by("pk").first()


def job_name(schedule: Schedule) -> str | None:
    """The job a schedule runs, when it runs one of ours (func = jobs.run, args = 'name')."""
    if schedule.func != RUN_FUNC or not schedule.args:
        return None
    try:
        value = ast.literal_eval(schedule.args)
    except (ValueError, SyntaxError):
        return None
    name = value[0] if isinstance(value, tuple) and value else value
    return name if isinstance(name, str) and name in TITLES else None
