"""List, replay, dry-run and clean up dead letters from the command line.

Exit codes:
  0  every replay succeeded (or nothing to do; --list and --cleanup always 0)
  1  at least one replay failed again (or a dry run predicts a failure)
  2  bad usage: no mode given, a number out of range, or an ID that is not a dead letter
     (nothing is replayed or deleted)
Output is a rich table and a progress bar on a terminal, plain tab-separated lines otherwise.
"""

from __future__ import annotations

import sys
from typing import IO, Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from deadletters.models import DeadLetter, ReplayOutcome
from deadletters.replay import replay_chunks
from webhooks import textsafe
from webhooks.arguments import MAX_DAYS, MAX_ID, whole

FAILED = {ReplayOutcome.FAILED, ReplayOutcome.DEFERRED}


def one_line(text: str, width: int = 200) -> str:
    """Stored text on one line of a terminal or a tab-separated listing: inert."""
    line = textsafe.printable(" ".join(text.split()))
    return line if len(line) <= width else line[: width - 1] + "…"


class Command(BaseCommand):
    help = "List, replay (--all or IDs), dry-run or clean up dead letters. Exit 1 when a replay failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=whole(1, MAX_ID), metavar="ID", help="Dead letters to replay.")
        parser.add_argument("--list", action="store_true", help="List open dead letters.")
        parser.add_argument("--all", action="store_true", help="Replay every open dead letter.")
        parser.add_argument("--cleanup", action="store_true", help="Delete old resolved and ignored dead letters.")
        parser.add_argument("--older-than-days", type=whole(0, MAX_DAYS), default=None, metavar="DAYS",
                            help=f"With --cleanup: last changed more than DAYS days ago, 0 to {MAX_DAYS} "
                                 "(default DEADLETTER_RETENTION_DAYS; 0: every resolved or ignored one, whatever its age).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Replays run rolled back (nothing changes); --cleanup only counts.")
        parser.add_argument("--limit", type=whole(1, 100_000), default=1000,
                            help="With --list: at most this many rows, 1 to 100000 (default 1000).")

    def handle(self, *args: Any, **options: Any) -> None:
        self.tty = self.stdout.isatty()
        modes = [bool(options["ids"]), options["list"], options["all"], options["cleanup"]]
        if sum(modes) != 1:
            raise CommandError("give exactly one of: --list, --all, --cleanup, or dead-letter IDs", returncode=2)
        if options["list"]:
            self.list_open(options["limit"])
        elif options["cleanup"]:
            days = options["older_than_days"]
            self.cleanup(settings.DEADLETTER_RETENTION_DAYS if days is None else days, options["dry_run"])
        else:
            # A dry run reads each event; a replay needs the ids only (it claims and reads in chunks).
            rows = DeadLetter.objects.select_related("event") if options["dry_run"] else DeadLetter.objects.only("pk")
            if options["all"]:
                dead_letters = list(rows.replayable().order_by("created_at"))
            else:
                found = {d.pk: d for d in rows.filter(pk__in=options["ids"])}
                missing = [i for i in options["ids"] if i not in found]
                if missing:
                    raise CommandError(f"no dead letter with id {', '.join(map(str, missing))}", returncode=2)
                dead_letters = [found[i] for i in options["ids"]]
            if self.replay(dead_letters, options["dry_run"]):
                sys.exit(1)

    def list_open(self, limit: int) -> None:
        rows = list(DeadLetter.objects.unresolved().order_by("created_at")[:limit])
        now = timezone.now()
        if self.tty:
            from rich.console import Console
            from rich.table import Table
            from rich.text import Text

            table = Table("id", "age", "topic", "shop", "error", title="Open dead letters")
            for d in rows:
                # Text(): an error message is data, never rich markup.
                error = Text(one_line(f"{d.error_class.rsplit('.', 1)[-1]}: {d.error_message}", 100))
                table.add_row(str(d.pk), _age(now - d.created_at), Text(one_line(d.topic)), Text(one_line(d.shop_domain)),
                              error)
            Console(file=cast(IO[str], self.stdout._out), soft_wrap=False).print(table)
        else:
            self.stdout.write("id\tage_seconds\ttopic\tshop\terror")
            for d in rows:
                age = int((now - d.created_at).total_seconds())
                self.stdout.write(
                    f"{d.pk}\t{age}\t{one_line(d.topic)}\t{one_line(d.shop_domain)}\t"
                    f"{one_line(f'{d.error_class}: {d.error_message}')}"
                )
        self.summary(f"{len(rows)} open dead letter(s)")

    def replay(self, dead_letters: list[DeadLetter], dry_run: bool) -> bool:
        """Replay (or dry-run) each; returns True when any failed. Replays go in chunks
        (deadletters.replay), a line per dead letter as each chunk is committed."""
        counts = {"ok": 0, "failed": 0, "skipped": 0}
        progress = None
        if self.tty and dead_letters:
            from rich.console import Console
            from rich.progress import Progress

            progress = Progress(console=Console(file=cast(IO[str], self.stdout._out)))
            task = progress.add_task("dry run" if dry_run else "replaying", total=len(dead_letters))
            progress.start()

        def report(dead_letter_id: int, outcome: str, error: str) -> None:
            bucket = "failed" if outcome in FAILED else "skipped" if outcome == ReplayOutcome.SKIPPED else "ok"
            counts[bucket] += 1
            line = f"{dead_letter_id}\t{outcome}\t{one_line(error)}"
            if progress is not None:
                progress.console.print(line, markup=False, highlight=False)
                progress.advance(task)
            else:
                self.stdout.write(line)

        try:
            if dry_run:
                for d in dead_letters:
                    try:
                        record = d.dry_run(None, source="command")
                        report(d.pk, record.outcome, record.error.split("\n", 1)[0])
                    except Exception as exc:  # noqa: BLE001 - count it and carry on
                        report(d.pk, ReplayOutcome.FAILED, f"{type(exc).__name__}: {exc}")
            else:
                for records in replay_chunks([d.pk for d in dead_letters], None, source="command"):
                    for record in records:
                        report(record.dead_letter_id, record.outcome, record.error.split("\n", 1)[0])
        finally:
            if progress is not None:
                progress.stop()
        verb = "dry-ran" if dry_run else "replayed"
        self.summary(f"{verb} {len(dead_letters)}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped")
        return counts["failed"] > 0

    def cleanup(self, days: int, dry_run: bool) -> None:
        count = DeadLetter.objects.cleanup(days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.summary(f"{verb} {count} resolved or ignored dead letter(s) older than {days} days")

    def summary(self, text: str) -> None:
        # A comment line in plain output, so a script reading the table can skip it.
        self.stdout.write(text if self.tty else f"# {text}")


def _age(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
