"""Check everything the console depends on. Exit 0 when ok, 1 when degraded or down."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webhooks.jobrunner import run_job


class Command(BaseCommand):
    help = "Database, migrations, worker cluster, queue, stuck events, dead letters, HTTP targets. Exit 0 ok, 1 failing."

    def handle(self, *args: Any, **options: Any) -> None:
        run = run_job(self, "health_check")
        for name, check in run.details.get("checks", {}).items():
            mark = self.style.SUCCESS("ok  ") if check.get("ok") else self.style.ERROR("FAIL")
            extra = check.get("error") or ", ".join(f"{k}={v}" for k, v in check.items() if k != "ok")
            self.stdout.write(f"  {mark} {name}: {extra}")
        if run.details.get("status") != "ok":
            raise SystemExit(1)
