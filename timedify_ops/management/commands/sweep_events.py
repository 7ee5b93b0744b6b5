"""The sweeper job, run now: take back events whose worker died (processing past their
lease; the dead worker's attempt is recorded and counts against the retry budget),
re-enqueue events that were never picked up, and resume stalled replay batches.

Runs through the job runner like the schedule (a job run is recorded, trigger "command"),
so it does everything the scheduled sweeper does. --dry-run only lists the events.
Exit codes: 0 done (finding stuck work is the sweeper's job, not an error); 1 the job
failed; 2 bad usage.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webhooks import processing
from webhooks.arguments import whole
from webhooks.jobrunner import run_job


class Command(BaseCommand):
    help = "Re-enqueue webhook events never picked up or whose worker died, and resume stalled replay batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List what would be re-enqueued; change nothing.")
        parser.add_argument("--batch", type=whole(1, 100_000), default=500,
                            help="At most this many events, 1 to 100000 (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        batch: int = options["batch"]
        if options["dry_run"]:
            stuck = processing.to_sweep(batch=batch)
            for event in stuck:
                self.stdout.write(
                    f"{event.pk} {event.topic} {event.shop_domain} {event.status} received {event.received_at:%Y-%m-%d %H:%M:%S}"
                )
            self.stdout.write(f"dry run: {len(stuck)} events would be re-enqueued")
            return
        run = run_job(self, "sweeper", batch=batch)
        if run.traceback:
            raise SystemExit(1)
