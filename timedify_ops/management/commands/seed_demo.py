from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from timedify_ops.demo import seed
from webhooks.arguments import whole


class Command(BaseCommand):
    help = "Fill the database with a week of realistic demo deliveries, processed for real."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=whole(1, 100_000), default=240, help="How many deliveries, 1 to 100000 (default 240).")
        parser.add_argument("--days", type=whole(1, 365), default=7, help="Spread over this many days, 1 to 365 (default 7).")

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = seed(options["count"], days=options["days"])
        parts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        self.stdout.write(f"Seeded {sum(statuses.values())} demo events: {parts}")
