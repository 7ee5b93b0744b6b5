"""The job runner: one function per job, one JobRun row per run.

The schedule (django-q2 calls `run("retention_cleanup")`), the admin's "Run now" and the
management commands of every app (through webhooks.jobrunner, where the app config installs
`execute`) all go through `execute()`, so every run is recorded the same way:
status running -> ok / warning / failed, duration, a one-line summary, structured details
and, when the job raised, the traceback.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from deadletters.batches import ReplayBatch
from timedify_ops import alerting, health, retention, schedules
from timedify_ops.jobtypes import RUN_FUNC, TITLES, Outcome, job_name, schedule_for
from timedify_ops.models import JobRun, JobStatus
from webhooks import indexer, textsafe
from webhooks.processing import sweep

logger = logging.getLogger(__name__)

__all__ = ["JOBS", "RUN_FUNC", "Job", "Outcome", "enqueue", "execute", "job_name", "run", "schedule_for"]


@dataclass(frozen=True)
class Job:
    name: str
    title: str
    func: Callable[..., Outcome]
    # Quick jobs run inside the admin request; the others are queued to the cluster.
    quick: bool


def _health_check(**kwargs: Any) -> Outcome:
    report = health.full_health(**kwargs)
    status = {"ok": JobStatus.OK, "degraded": JobStatus.WARNING}.get(report["status"], JobStatus.FAILED)
    reasons = "; ".join(report["reasons"] + report["backlog"])
    summary = f"{report['status']}: {reasons}" if reasons else f"all {len(report['checks'])} checks passed"
    if report["status"] == "ok" and report["backlog"]:
        status = JobStatus.WARNING
    return Outcome(status, summary, report)


def _sweeper(batch: int = 500, **kwargs: Any) -> Outcome:
    """Stuck work, re-enqueued: events whose worker died or that were never picked up, and
    bulk replays whose worker died (with Redis a lost task is never handed out again).
    Then one batch of the subject index's backfill (events stored before it existed)."""
    n = sweep(batch=batch, **kwargs)
    batches = ReplayBatch.resume_stalled()
    indexed = indexer.backfill()
    return Outcome(
        JobStatus.OK,
        f"swept {n} events (taken back from a dead worker or re-enqueued), resumed {batches} stalled replay "
        f"batches; indexed {indexed} older events",
        {"requeued": n, "replay_batches_resumed": batches, "subjects_indexed": indexed},
    )


def _setup_schedules(**kwargs: Any) -> Outcome:
    report = schedules.setup_schedules(**kwargs)
    counts = ", ".join(f"{len(names)} {key}" for key, names in report.items())
    return Outcome(JobStatus.OK, f"schedules: {counts}", report)


_FUNCS: dict[str, tuple[Callable[..., Outcome], bool]] = {
    "retention_cleanup": (retention.retention_cleanup, False),
    "deadletter_cleanup": (retention.deadletter_cleanup, True),
    "health_check": (_health_check, True),
    "alerting_check": (alerting.check, True),
    "sweeper": (_sweeper, True),
    "prune_django_q": (retention.prune_django_q, False),
    "setup_schedules": (_setup_schedules, True),
}
JOBS: dict[str, Job] = {name: Job(name, TITLES[name], func, quick) for name, (func, quick) in _FUNCS.items()}


def _record(run: JobRun) -> None:
    """Save the run; when the database itself is down the job still reports (health says
    so), the row is simply not kept."""
    try:
        run.save()
    except DatabaseError as exc:
        logger.warning("could not record the %s run: %s", run.task, exc)
        run.details = {**run.details, "recorded": False}


def execute(
    name: str,
    *,
    trigger: str = "schedule",
    user: Any = None,
    schedule: Schedule | None = None,
    run: JobRun | None = None,
    **kwargs: Any,
) -> JobRun:
    """Run a job and record it. Never raises for the job's own errors: a failed run has
    status failed, the exception in its summary and the traceback."""
    job = JOBS[name]
    if run is None:
        run = JobRun(task=name, trigger=trigger, triggered_by=user, schedule=schedule)
    run.started_at = timezone.now()
    run.status = JobStatus.RUNNING
    run.summary = "running"
    _record(run)
    t0 = time.perf_counter()
    try:
        outcome = job.func(**kwargs)
    except Exception as exc:  # noqa: BLE001  (the run records any failure, then the caller decides)
        logger.exception("job %s failed", name)
        run.status = JobStatus.FAILED
        # The exception's text may hold anything (a target's answer, NUL): stored cleaned.
        run.summary = textsafe.for_field(JobRun, "summary", f"{type(exc).__name__}: {exc}")
        run.traceback = textsafe.for_field(JobRun, "traceback", tb.format_exc())
    else:
        run.status = outcome.status
        run.summary = textsafe.for_field(JobRun, "summary", outcome.summary)
        run.details = textsafe.clean_json(outcome.details)
    run.finished_at = timezone.now()
    run.duration_ms = round((time.perf_counter() - t0) * 1000, 2)
    _record(run)
    return run


def run(name: str, trigger: str = "schedule", run_id: int | None = None, **kwargs: Any) -> str:
    """django-q2's entry point. Returns the summary, so django-q2's Successful tasks page
    shows it; a run that raised is re-raised so its Failed tasks page shows it too."""
    existing = JobRun.objects.filter(pk=run_id).first() if run_id else None
    schedule = existing.schedule if existing else (schedule_for(name) if trigger == "schedule" else None)
    job_run = execute(name, trigger=trigger, schedule=schedule, run=existing, **kwargs)
    if job_run.status == JobStatus.FAILED and job_run.traceback:
        raise RuntimeError(f"{name} failed: {job_run.summary}")
    return f"{job_run.status}: {job_run.summary}"


def enqueue(name: str, *, trigger: str, user: Any = None, schedule: Schedule | None = None) -> JobRun:
    """Queue a run for the cluster and return its row at once (status running, "queued"),
    so the admin can link to it before a worker picks it up."""
    job_run = JobRun.objects.create(
        task=name, trigger=trigger, triggered_by=user, schedule=schedule, summary="queued, waiting for a worker"
    )
    async_task(RUN_FUNC, name, trigger=trigger, run_id=job_run.pk, task_name=f"{name} (run {job_run.pk})")
    return job_run
