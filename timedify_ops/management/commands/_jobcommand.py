"""What every job command shares: run the job through the runner (trigger "command"),
print its details and a final summary line. Not a command itself (leading underscore)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from timedify_ops.jobs import execute
from timedify_ops.models import JobRun


def run_job(command: BaseCommand, name: str, **kwargs: Any) -> JobRun:
    run = execute(name, trigger="command", **kwargs)
    report(command, run)
    return run


def report(command: BaseCommand, run: JobRun) -> None:
    """The final summary line (and the traceback of a failed run, on stderr)."""
    name = run.task
    style = {"ok": command.style.SUCCESS, "warning": command.style.WARNING}.get(run.status, command.style.ERROR)
    if run.traceback:
        command.stderr.write(run.traceback)
    recorded = f"run {run.pk}" if run.pk and run.details.get("recorded", True) else "not recorded"
    command.stdout.write(style(f"{name} {run.status} in {run.duration_ms or 0:.0f} ms ({recorded}): {run.summary}"))
