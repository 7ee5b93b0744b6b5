"""Evaluate the alert level and notify on a change.

Exit codes: 0 level 1 (ok); 1 health failing (degraded or down, database down included);
2 errors found (level 2 or 3 with the health itself fine, e.g. error rate, dead letters).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webhooks.jobrunner import run_job


class Command(BaseCommand):
    help = "Error rate, latency vs SLO, dead letters, silent topics, health. Exit 0 ok, 1 health failing, 2 errors found."

    def handle(self, *args: Any, **options: Any) -> None:
        run = run_job(self, "alerting_check")
        details = run.details
        for reason in details.get("reasons", []):
            self.stdout.write(f"  - {reason}")
        if run.traceback or details.get("health", {}).get("status", "down") != "ok":
            raise SystemExit(1)
        if details.get("level", 1) >= 2:
            raise SystemExit(2)
