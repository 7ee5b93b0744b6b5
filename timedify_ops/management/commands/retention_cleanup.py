"""Delete webhook events past the retention window, in batches.

Exit codes: 0 done, 1 failed, 2 bad usage (a number out of range: nothing is deleted).

Events any dead letter points at are kept; the dead-letter clean-up (its own job) frees
them once their dead letters are resolved and past DEADLETTER_RETENTION_DAYS.
"""

from __future__ import annotations

from typing import IO, Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from webhooks import jobrunner
from webhooks.arguments import MAX_DAYS, seconds, whole
from webhooks.models import WebhookEvent


class Command(BaseCommand):
    help = "Delete events older than DAYS (default WEBHOOK_RETENTION_DAYS) in batches; --dry-run only counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("days", nargs="?", type=whole(1, MAX_DAYS), default=None,
                            help=f"Retention window in days, 1 to {MAX_DAYS} (default WEBHOOK_RETENTION_DAYS).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted, delete nothing.")
        parser.add_argument("--batch-size", type=whole(1, 100_000), default=None,
                            help="Events per batch, 1 to 100000 (default RETENTION_BATCH_SIZE).")
        parser.add_argument("--pause", type=seconds(0, 60), default=None,
                            help="Seconds between two batches, 0 to 60 (default RETENTION_PAUSE_SECONDS; 0: no pause).")

    def handle(
        self, *args: Any, days: int | None, dry_run: bool, batch_size: int | None, pause: float | None, **options: Any
    ) -> None:
        kwargs: dict[str, Any] = {"days": days, "dry_run": dry_run, "batch_size": batch_size, "pause": pause}
        if self.stdout.isatty() and not dry_run:
            run = self._with_progress(days or settings.WEBHOOK_RETENTION_DAYS, kwargs)
        else:
            run = jobrunner.run_job(self, "retention_cleanup", **kwargs)
        if run.traceback:
            raise SystemExit(1)

    def _with_progress(self, days: int, kwargs: dict[str, Any]) -> Any:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        total = WebhookEvent.objects.expired(days).count()
        # Rich writes partial lines: the raw stream, not Django's line-ending OutputWrapper.
        console = Console(file=cast(IO[str], self.stdout._out))
        columns = (TextColumn("deleting events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task("retention", total=total)
            run = jobrunner.run("retention_cleanup", trigger="command", progress=lambda n: progress.advance(bar, n),
                                **kwargs)
        jobrunner.report(self, run)
        return run
