"""List, replay, dry-run and clean up dead letters from the command line.

Replays (--all or IDs) run as a replay batch in this process, at --rate (default
DEADLETTER_BATCH_RATE) with an optional --canary: `replay_batches pause|resume|cancel ID`
steers it from anywhere, and the admin shows it. With --background the worker cluster runs
it instead. If this process dies, the sweeper hands the batch to the cluster.

--cleanup runs the dead-letter clean-up job through the job runner, like its schedule: the
run is recorded (trigger "command") and shows in the admin's job runs.

Exit codes:
  0  every replay succeeded (or nothing to do; --list always 0, --cleanup unless it failed)
  1  at least one replay failed again (or a dry run predicts a failure), or --cleanup failed
  2  bad usage: no mode given, a number out of range, an ID that is not a dead letter, a bad
     --rate or --destination (nothing is replayed or deleted)
  3  the batch paused (its canary failed, the automatic pause tripped, or someone paused it)
  4  the batch was cancelled
Output is a rich table and a progress bar on a terminal, plain tab-separated lines otherwise.
"""

from __future__ import annotations

import sys
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from deadletters import batch_run
from deadletters.batches import FAILED_OUTCOMES, BatchItem, BatchOrigin, BatchStatus, ReplayBatch, default_rate
from deadletters.models import DeadLetter, ReplayOutcome
from webhooks import textsafe
from webhooks.arguments import MAX_DAYS, MAX_ID, rate, whole
from webhooks.jobrunner import run_job
from webhooks.models import ForwardDestination

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
        parser.add_argument("--rate", type=rate(10_000), default=None,
                            help="Replays started per second at most, 0 to 10000 "
                                 "(default DEADLETTER_BATCH_RATE; 0: as fast as possible).")
        parser.add_argument("--canary", type=whole(0, 1_000_000), default=0,
                            help="Replay the first N alone, 0 to 1000000 (default 0: none); if any fails, the batch pauses (exit 3).")
        parser.add_argument("--destination", default="",
                            help="Send forwarded topics to this forward destination (id or name) instead of their route's.")
        parser.add_argument("--include-superseded", action="store_true",
                            help="Also replay dead letters a newer processed delivery superseded (default: resolve them).")
        parser.add_argument("--background", action="store_true",
                            help="Hand the batch to the worker cluster and exit at once (prints its id).")

    def handle(self, *args: Any, **options: Any) -> None:
        self.tty = self.stdout.isatty()
        modes = [bool(options["ids"]), options["list"], options["all"], options["cleanup"]]
        if sum(modes) != 1:
            raise CommandError("give exactly one of: --list, --all, --cleanup, or dead-letter IDs", returncode=2)
        if options["list"]:
            self.list_open(options["limit"])
        elif options["cleanup"]:
            run = run_job(self, "deadletter_cleanup", days=options["older_than_days"], dry_run=options["dry_run"])
            if run.traceback:
                sys.exit(1)
        elif options["dry_run"]:
            dead_letters = self.chosen(options, DeadLetter.objects.select_related("event"))
            if self.dry_run(dead_letters):
                sys.exit(1)
        else:
            rate, destination = self.pace(options)
            ids = [d.pk for d in self.chosen(options, DeadLetter.objects.only("pk"))]
            if not ids:
                self.summary("replayed 0: nothing to replay")
                return
            what = "every open dead letter" if options["all"] else f"{len(ids)} dead letter(s) by id"
            batch = ReplayBatch.start(
                ids, None, f"Replay of {what} from the command line", source="command", rate=rate,
                canary=options["canary"], origin=BatchOrigin.COMMAND, destination=destination, enqueue=options["background"],
                include_superseded=options["include_superseded"],
            )
            if options["background"]:
                self.summary(f"replay batch {batch.pk} queued: {len(ids)} dead letter(s)")
                return
            code = self.replay(batch)
            if code:
                sys.exit(code)

    def chosen(self, options: dict[str, Any], rows: Any) -> list[DeadLetter]:
        if options["all"]:
            return list(rows.replayable().order_by("created_at"))
        found = {d.pk: d for d in rows.filter(pk__in=options["ids"])}
        missing = [i for i in options["ids"] if i not in found]
        if missing:
            raise CommandError(f"no dead letter with id {', '.join(map(str, missing))}", returncode=2)
        return [found[i] for i in options["ids"]]

    def pace(self, options: dict[str, Any]) -> tuple[float | None, ForwardDestination | None]:
        """The rate and --destination, checked before anything runs."""
        rate = default_rate() if options["rate"] is None else options["rate"]
        destination = None
        if options["destination"]:
            name = options["destination"]
            found = ForwardDestination.objects.filter(name=name)
            if name.isascii() and name.isdecimal():
                found = found | ForwardDestination.objects.filter(pk=int(name))
            destination = found.first()
            if destination is None:
                raise CommandError(f"no forward destination named {name!r}", returncode=2)
        return (rate or None), destination

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

    def progress(self, total: int, label: str) -> Any:
        if not (self.tty and total):
            return None
        from rich.console import Console
        from rich.progress import Progress

        progress = Progress(console=Console(file=cast(IO[str], self.stdout._out)))
        progress.add_task(label, total=total)
        progress.start()
        return progress

    def line(self, progress: Any, text: str) -> None:
        if progress is not None:
            progress.console.print(text, markup=False, highlight=False)
            progress.advance(progress.task_ids[0])
        else:
            self.stdout.write(text)

    def replay(self, batch: ReplayBatch) -> int:
        """Run the batch here, a line per dead letter as each chunk is committed; the exit code."""
        progress = self.progress(batch.total, f"replaying (batch {batch.pk})")

        def report(items: list[BatchItem]) -> None:
            for item in items:
                why = item.error_class if item.outcome in FAILED_OUTCOMES else item.error
                self.line(progress, f"{item.dead_letter_id}\t{item.outcome}\t{one_line(why)}")

        try:
            while not batch_run.run(batch, on_items=report):
                pass  # a run's time is up: this process goes on with the next one
        finally:
            if progress is not None:
                progress.stop()
        self.summary(f"batch {batch.pk} {batch.get_status_display().lower()}: replayed {batch.done} of {batch.total}: "
                     f"{batch.ok} ok, {batch.failed} failed, {batch.skipped} skipped, {batch.superseded} superseded")
        if batch.status == BatchStatus.PAUSED:
            self.summary(f"paused: {batch.pause_reason}; `replay_batches resume {batch.pk}` goes on")
            return 3
        if batch.status == BatchStatus.CANCELLED:
            return 4
        return 1 if batch.failed else 0

    def dry_run(self, dead_letters: list[DeadLetter]) -> bool:
        """Dry-run each; returns True when any would fail."""
        counts = {"ok": 0, "failed": 0, "skipped": 0}
        progress = self.progress(len(dead_letters), "dry run")
        try:
            for d in dead_letters:
                try:
                    record = d.dry_run(None, source="command")
                    outcome, error = record.outcome, record.error.split("\n", 1)[0]
                except Exception as exc:  # noqa: BLE001 - count it and carry on
                    outcome, error = ReplayOutcome.FAILED, f"{type(exc).__name__}: {exc}"
                counts["failed" if outcome in FAILED else "skipped" if outcome == ReplayOutcome.SKIPPED else "ok"] += 1
                self.line(progress, f"{d.pk}\t{outcome}\t{one_line(error)}")
        finally:
            if progress is not None:
                progress.stop()
        self.summary(f"dry-ran {len(dead_letters)}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped")
        return counts["failed"] > 0

    def summary(self, text: str) -> None:
        # A comment line in plain output, so a script reading the table can skip it.
        self.stdout.write(text if self.tty else f"# {text}")


def _age(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
