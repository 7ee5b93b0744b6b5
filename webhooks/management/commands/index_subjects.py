"""Index, at once, every finished event the subject index knows nothing of yet.

The sweeper job does the same a batch per minute (SUBJECT_INDEX_BACKFILL_BATCH); this
command is for an operator who wants it done now, e.g. right after the upgrade that added
the index. Each batch is one short transaction, so it can run beside live traffic.

Exit codes: 0 (the last line says how many events were indexed and how many wait); 2 bad
usage (a --batch out of range: nothing is indexed).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webhooks import indexer
from webhooks.arguments import whole
from webhooks.models import WebhookEvent


class Command(BaseCommand):
    help = "Index the subjects (customers, orders) of every finished event not indexed yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=whole(1, 100_000), default=2000,
                            help="Events per transaction, 1 to 100000 (default 2000).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be indexed; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        waiting = WebhookEvent.objects.unindexed().finished()
        if options["dry_run"]:
            self.stdout.write(f"dry run: {waiting.count()} events would be indexed")
            return
        total = 0
        while True:
            done = indexer.backfill(options["batch"])
            total += done
            if not done:
                break
        unfinished = WebhookEvent.objects.unindexed().count()
        self.stdout.write(f"indexed {total} events; {unfinished} unfinished events wait for a worker")
