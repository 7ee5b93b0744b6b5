from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from timedify_ops.demo import seed


class Command(BaseCommand):
    help = "Fill the database with a week of realistic demo deliveries, processed for real."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=240, help="How many deliveries (default 240).")
        parser.add_argument("--days", type=int, default=7, help="Spread over this many days (default 7).")

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = seed(options["count"], days=options["days"])
        parts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        self.stdout.write(f"Seeded {sum(statuses.values())} demo events: {parts}")
