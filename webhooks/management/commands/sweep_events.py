"""Take back events whose worker died (processing past their lease; the dead worker's
attempt is recorded and counts against the retry budget) and re-enqueue events that were
never picked up.

Exit codes: 0 (finding stuck events is the sweeper's job, not an error); 2 bad usage.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webhooks import processing
from webhooks.arguments import whole


class Command(BaseCommand):
    help = "Re-enqueue webhook events that were never picked up or whose worker died."

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
        count = processing.sweep(batch=batch)
        self.stdout.write(f"swept {count} events (taken back from a dead worker or re-enqueued)")
