"""Create or update the django-q2 schedules of every job, by name, from settings. Exit 0."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webhooks.jobrunner import run_job


class Command(BaseCommand):
    help = "Create or update (never duplicate) the schedules of the retention, cleanup, health, alerting, sweeper and prune jobs."

    def handle(self, *args: Any, **options: Any) -> None:
        run = run_job(self, "setup_schedules")
        for key in ("created", "updated", "unchanged"):
            for title in run.details.get(key, []):
                self.stdout.write(f"  {key}: {title}")
        if run.traceback:
            raise SystemExit(1)
