"""Operational records: one row per run of a scheduled job."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    WARNING = "warning", "Warning"
    FAILED = "failed", "Failed"


# What the sweeper reports it did (timedify_ops.jobs._sweeper): a run with each of them 0,
# or not reported by that version of the job, found nothing.
SWEEPER_COUNTS = ("requeued", "replay_batches_resumed", "subjects_indexed")


def _quiet_sweeper_run() -> models.Q:
    quiet = models.Q(task="sweeper", status="ok")
    for count in SWEEPER_COUNTS:
        quiet &= models.Q(**{f"details__{count}": 0}) | ~models.Q(details__has_key=count)
    return quiet


# A sweeper run that found nothing: one a minute, hidden from the run history by default.
QUIET_SWEEPER_RUN = _quiet_sweeper_run()


class JobRun(models.Model):
    """A run of one of our jobs (retention, cleanup, health, alerting, sweeper...), whether
    started by its schedule, the admin's "run now" or a management command."""

    task = models.CharField(max_length=100, help_text="The job's name, e.g. retention_cleanup.")
    schedule = models.ForeignKey(
        "django_q.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="job_runs",
        help_text="The schedule that started it, if any.",
    )
    trigger = models.CharField(max_length=20, default="schedule", help_text="schedule, admin or command.")
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who pressed 'run now'.",
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.RUNNING)
    summary = models.CharField(max_length=500, blank=True, help_text="One line a person can read.")
    details = models.JSONField(default=dict, blank=True, help_text="Structured results (counts, checks).")
    traceback = models.TextField(blank=True, help_text="The traceback of a failed run.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Last run of each job (dashboard, health, schedule admin) and the history list.
            models.Index(fields=["task", "-started_at"], name="ops_jobrun_task_started"),
            # The run-history filter by status.
            models.Index(fields=["status", "-started_at"], name="ops_jobrun_status_started"),
            # The run history as it opens (quiet sweeper runs hidden), newest first: its page,
            # its count and its date bar read this index, not 40,000 sweeper runs' details.
            # The condition is the admin's filter itself (~QUIET_SWEEPER_RUN), so that the
            # planner recognises it.
            models.Index(fields=["-started_at"], condition=~QUIET_SWEEPER_RUN, name="ops_jobrun_shown"),
            # The run history's trigger filter lists its values from this index.
            models.Index(fields=["trigger"], name="ops_jobrun_trigger"),
        ]

    def __str__(self) -> str:
        return f"{self.task} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.status}"


class TrafficHour(models.Model):
    """One settled hour of webhook traffic, rolled up for the dashboard and the SLO figures.

    Filled from the events table once an hour is over (plus a settling margin), so charts
    and the 7/30-day SLO figures read at most 720 small rows instead of scanning a million
    events, and survive the retention job deleting old events. Synthetic deliveries are
    left out. Latency is kept as a histogram of log-spaced bins (2 % wide) so percentiles
    can be computed over any set of hours.
    """

    hour = models.DateTimeField(unique=True, help_text="Start of the hour (UTC).")
    events = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Events that ended failed or dead.")
    latency_histogram = models.JSONField(
        default=dict, blank=True, help_text="Ingest latency: {bin: count}, see timedify_ops.series."
    )
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}: {self.events} events"


class AlertState(models.Model):
    """The current alert level (one row). Notifications go out only when it changes."""

    level = models.PositiveSmallIntegerField(default=1, help_text="1 normal, 2 errors found, 3 outage.")
    reasons = models.JSONField(default=list, blank=True, help_text="Why the level is what it is.")
    changed_at = models.DateTimeField(default=timezone.now, help_text="When the level last changed.")
    evaluated_at = models.DateTimeField(default=timezone.now, help_text="When alerting last ran.")

    class Meta:
        verbose_name = "alert state"

    def __str__(self) -> str:
        return f"alert level {self.level}"


class DeliveryTotals(models.Model):
    """Lifetime delivery counts up to `through` (one row), behind /metrics' counters.

    Counters must never go down, but the rows they count are deleted by retention. So the
    counts of every settled hour are added here once (timedify_ops.counters), and a counter
    is this row plus the rows newer than `through`, which no job deletes."""

    through = models.DateTimeField(help_text="Facts before this moment are in `counts`.")
    counts = models.JSONField(default=dict, blank=True, help_text="{counter: value} up to `through`.")

    class Meta:
        verbose_name = "delivery totals"
        verbose_name_plural = "delivery totals"

    def __str__(self) -> str:
        return f"delivery totals through {self.through:%Y-%m-%d %H:%M}"
