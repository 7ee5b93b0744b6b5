"""The seam through which any app's command runs a job through the job runner.

The job runner (timedify_ops.jobs.execute) records every run as a job run: the schedule,
the admin's "Run now" and every command that runs a job go through it, so each run shows
in the admin's job-run list with its trigger, status, duration and summary. It lives in the
top app, which webhooks and deadletters must not import: timedify_ops installs it here when
it is ready (TimedifyOpsConfig.ready), and a command of any app calls `run_job`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand


class RunRecord(Protocol):
    """What a recorded run tells its caller (timedify_ops.models.JobRun)."""

    pk: Any
    task: str
    status: str
    summary: str
    details: Any
    traceback: str
    duration_ms: float | None


Runner = Callable[..., RunRecord]
_runner: Runner | None = None


def install(runner: Runner) -> None:
    """Plug in the job runner: called once, by the app that owns it."""
    global _runner
    _runner = runner


def run(name: str, *, trigger: str, **kwargs: Any) -> RunRecord:
    """Run job `name` through the runner, recorded with `trigger`; `kwargs` go to the job.
    Never raises for the job's own errors: a failed run has status failed and a traceback."""
    if _runner is None:
        raise ImproperlyConfigured("no job runner is installed: timedify_ops must be in INSTALLED_APPS")
    return _runner(name, trigger=trigger, **kwargs)


def run_job(command: BaseCommand, name: str, **kwargs: Any) -> RunRecord:
    """A command's run of a job (trigger "command"), followed by its summary line."""
    record = run(name, trigger="command", **kwargs)
    report(command, record)
    return record


def report(command: BaseCommand, record: RunRecord) -> None:
    """The final summary line (and the traceback of a failed run, on stderr)."""
    style = {"ok": command.style.SUCCESS, "warning": command.style.WARNING}.get(record.status, command.style.ERROR)
    if record.traceback:
        command.stderr.write(record.traceback)
    recorded = f"run {record.pk}" if record.pk and record.details.get("recorded", True) else "not recorded"
    command.stdout.write(
        style(f"{record.task} {record.status} in {record.duration_ms or 0:.0f} ms ({recorded}): {record.summary}")
    )
