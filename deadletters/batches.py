"""Replay batches: a bulk replay over a frozen set of dead letters, run by the worker cluster.

The operator confirms an exact list of ids; that list is stored here and never re-queried,
so dead letters that fail after the confirmation are not swept in. The batch row is also
the progress the admin shows (done / total, ok / failed) and, at the end, the per-item
report. A task run works for a bounded time, then hands the rest to a fresh task, so a
batch of any size stays under the cluster's task timeout.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from deadletters.models import Actor

logger = logging.getLogger(__name__)

TASK = "deadletters.tasks.run_replay_batch"
# Progress is written at most this often (and when the run stops), not after every chunk:
# the report grows with the batch and rewriting it each time would be quadratic.
FLUSH_SECONDS = 1.0


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"


class ReplayBatch(models.Model):
    """One bulk replay: what was confirmed, how far it got, and what happened to each item."""

    description = models.CharField(max_length=300, help_text="What the operator confirmed, in words.")
    source = models.CharField(max_length=20, default="bulk", help_text="Recorded on each replay record.")
    dead_letter_ids = models.JSONField(default=list, help_text="The exact dead letters confirmed, in order.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Items replayed so far.")
    ok = models.PositiveIntegerField(default=0, help_text="Replays that resolved their dead letter.")
    failed = models.PositiveIntegerField(default=0, help_text="Replays that failed again (left open).")
    skipped = models.PositiveIntegerField(default=0, help_text="Not open any more, or replayed by someone else.")
    report = models.JSONField(
        default=list, blank=True, help_text="Per item: id, outcome, error class (the text is on the dead letter)."
    )
    status = models.CharField(max_length=20, choices=BatchStatus.choices, default=BatchStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who confirmed the batch.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While running: when the claim lapses (the worker died)."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "replay batches"
        indexes = [
            # ReplayBatch.objects stalled(): running batches whose worker died.
            models.Index(fields=["status", "lease_expires_at"], name="deadletters_batch_status"),
        ]

    def __str__(self) -> str:
        return f"replay batch {self.pk}: {self.done}/{self.total}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    @property
    def is_finished(self) -> bool:
        return self.status == BatchStatus.FINISHED

    @classmethod
    def start(cls, ids: list[int], actor: Actor, description: str, *, source: str = "bulk") -> ReplayBatch:
        """Store the frozen id set and hand the batch to the worker cluster after commit."""
        user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
        batch = cls.objects.create(
            description=description[:300], source=source, dead_letter_ids=list(ids), total=len(ids), created_by=user
        )
        # After commit: with the Redis broker a worker could otherwise look for the row
        # before it exists.
        transaction.on_commit(batch.enqueue)
        return batch

    @classmethod
    def resume_stalled(cls) -> int:
        """Re-enqueue running batches whose worker died (lease lapsed). With the Redis broker
        a lost task is never re-delivered; a scheduled job can call this."""
        stalled = list(cls.objects.filter(status=BatchStatus.RUNNING, lease_expires_at__lt=timezone.now()))
        for batch in stalled:
            batch.enqueue()
        return len(stalled)

    def enqueue(self) -> None:
        from django_q.tasks import async_task

        async_task(TASK, self.pk, save=False, task_name=f"replay-batch-{self.pk}")

    def _claim(self) -> datetime | None:
        now = timezone.now()
        lease = now + timedelta(seconds=settings.DEADLETTER_BATCH_TASK_SECONDS + settings.DEADLETTER_REPLAY_LEASE_SECONDS)
        claimable = Q(status=BatchStatus.QUEUED) | Q(status=BatchStatus.RUNNING, lease_expires_at__lt=now)
        updated = ReplayBatch.objects.filter(claimable, pk=self.pk).update(
            status=BatchStatus.RUNNING, lease_expires_at=lease, started_at=self.started_at or now
        )
        return lease if updated == 1 else None

    def run(self, *, budget_seconds: float | None = None) -> bool:
        """Replay the items not done yet, a chunk at a time (deadletters.replay), for at most
        `budget_seconds`. Returns True when the batch is finished (or someone else runs it),
        False when items remain."""
        from deadletters.models import ReplayOutcome
        from deadletters.replay import chunk_size, replay_chunk

        budget = settings.DEADLETTER_BATCH_TASK_SECONDS if budget_seconds is None else budget_seconds
        lease = self._claim()
        if lease is None:
            return True
        self.refresh_from_db()
        deadline = time.monotonic() + budget
        counters = {"done": self.done, "ok": self.ok, "failed": self.failed, "skipped": self.skipped}
        report: list[dict[str, Any]] = list(self.report)
        last_flush = time.monotonic()
        size = chunk_size()
        while counters["done"] < self.total:
            chunk = self.dead_letter_ids[counters["done"]:counters["done"] + size]
            try:
                records = replay_chunk(chunk, self.created_by, source=self.source, log=f"Replayed in batch {self.pk}")
            except Exception:
                # Nothing of this chunk was done, or its claims could not be given back (they
                # lapse): save what is done, so that a resumed run starts here, and fail the task.
                with contextlib.suppress(Exception):  # the database may be what failed
                    self._flush(lease, counters, report)
                raise
            by_id = {record.dead_letter_id: record for record in records}
            for dead_letter_id in chunk:
                record = by_id.get(dead_letter_id)
                # The error class only: the text is on the dead letter (it can quote a customer).
                outcome, error_class = (ReplayOutcome.SKIPPED, "") if record is None else (
                    record.outcome, record.error_class)
                counters["done"] += 1
                counters[{"ok": "ok", "ignored": "ok", "failed": "failed", "deferred": "failed"}.get(outcome, "skipped")] += 1
                report.append({"id": dead_letter_id, "outcome": str(outcome), "error_class": error_class})
            if time.monotonic() - last_flush >= FLUSH_SECONDS:
                renewed = self._flush(lease, counters, report)
                if renewed is None:
                    return True  # our lease lapsed and another run took over
                lease, last_flush = renewed, time.monotonic()
            if time.monotonic() >= deadline and counters["done"] < self.total:
                self._flush(lease, counters, report, status=BatchStatus.QUEUED)
                return False
        self._flush(lease, counters, report, status=BatchStatus.FINISHED)
        return True

    def _flush(
        self, lease: datetime, counters: dict[str, int], report: list[dict[str, Any]], status: str = ""
    ) -> datetime | None:
        """Write progress if we still hold the claim. Returns the renewed lease (the new
        claim token), or None when the claim was lost."""
        now = timezone.now()
        renewed = now + timedelta(seconds=settings.DEADLETTER_BATCH_TASK_SECONDS + settings.DEADLETTER_REPLAY_LEASE_SECONDS)
        values: dict[str, Any] = {**counters, "report": report, "lease_expires_at": renewed}
        if status == BatchStatus.FINISHED:
            values.update(status=status, finished_at=now, lease_expires_at=None)
        elif status == BatchStatus.QUEUED:
            values.update(status=status, lease_expires_at=None)
        updated = ReplayBatch.objects.filter(pk=self.pk, lease_expires_at=lease).update(**values)
        if updated != 1:
            return None
        self.refresh_from_db()
        return renewed

