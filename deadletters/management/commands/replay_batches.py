"""List replay batches, and pause, resume or cancel one, from the command line.

    replay_batches list [--active] [--limit N]
    replay_batches show ID
    replay_batches pause ID [--reason TEXT]
    replay_batches resume ID
    replay_batches cancel ID

Exit codes:
  0  done (for pause and cancel of a batch a worker holds: asked, it stops after the items
     in hand; `show` then says "pause asked" until it has)
  1  nothing to do: the batch is not in a state for that (e.g. resume a finished batch)
  2  bad usage, or no such batch
Output is tab-separated lines; a summary line starts with `#`.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deadletters.batches import ReplayBatch
from webhooks.arguments import MAX_ID, whole

ID = whole(1, MAX_ID)


class Command(BaseCommand):
    help = "List replay batches; pause, resume or cancel one. Exit 1 when there was nothing to do."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        listing = sub.add_parser("list", help="Newest first.")
        listing.add_argument("--active", action="store_true", help="Only queued, running and paused batches.")
        listing.add_argument("--limit", type=whole(1, 100_000), default=50, help="1 to 100000 (default 50).")
        sub.add_parser("show", help="One batch: state, progress, changes.").add_argument("id", type=ID)
        pause = sub.add_parser("pause", help="Pause: the worker stops after the items in hand.")
        pause.add_argument("id", type=ID)
        pause.add_argument("--reason", default="", help="Shown on the batch (default: who paused it).")
        sub.add_parser("resume", help="Go on at the batch's rate.").add_argument("id", type=ID)
        sub.add_parser("cancel", help="Stop for good; what it has not reached stays open.").add_argument("id", type=ID)

    def handle(self, *args: Any, **options: Any) -> None:
        verb = options["verb"]
        if verb == "list":
            self.list_batches(options["active"], options["limit"])
            return
        batch = ReplayBatch.objects.filter(pk=options["id"]).first()
        if batch is None:
            raise CommandError(f"no replay batch with id {options['id']}", returncode=2)
        if verb == "show":
            self.show(batch)
            return
        if verb == "pause":
            result = batch.pause(None, options["reason"])
        elif verb == "cancel":
            result = batch.cancel(None)
        else:
            result = "resumed" if batch.resume(None) else ""
        if not result:
            self.stdout.write(f"# nothing to {verb}: batch {batch.pk} is {batch.get_status_display().lower()}")
            sys.exit(1)
        self.stdout.write(f"# batch {batch.pk}: {verb} {'asked: the worker stops after the items in hand' if result == 'asked' else 'done'}")

    def list_batches(self, active: bool, limit: int) -> None:
        rows = ReplayBatch.objects.select_related("created_by").order_by("-created_at")
        if active:
            rows = rows.filter(status__in=["queued", "running", "paused"])
        self.stdout.write("id\tresult\tdone\ttotal\tok\tfailed\trate\tfrom\tby\tdescription")
        batches = list(rows[:limit])
        for b in batches:
            self.stdout.write("\t".join(str(v) for v in (
                b.pk, b.outcome[1], b.done, b.total, b.ok, b.failed, f"{b.rate:g}" if b.rate else "fastest",
                b.origin, b.created_by or "command line", b.description)))
        self.stdout.write(f"# {len(batches)} replay batch(es)")

    def show(self, b: ReplayBatch) -> None:
        eta = b.eta_seconds()
        for name, value in (
            ("id", b.pk), ("result", b.outcome[1]), ("description", b.description), ("from", b.get_origin_display()),
            ("by", b.created_by or "command line"), ("rate", f"{b.rate:g}/s" if b.rate else "as fast as possible"),
            ("canary", b.canary), ("done", f"{b.done} / {b.total}"),
            ("counts", f"{b.ok} ok, {b.failed} failed, {b.skipped} skipped, {b.superseded} superseded"),
            ("paused because", b.pause_reason if b.status == "paused" else ""),
            ("eta", f"{eta:.0f} s" if eta is not None else ""),
        ):
            if value != "":
                self.stdout.write(f"{name}\t{value}")
        for change in b.history:
            self.stdout.write(f"change\t{change.get('at', '')[:19]}\t{change.get('who')}\t{change.get('what')}\t{change.get('why', '')}")
