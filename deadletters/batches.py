"""Replay batches: a bulk replay over a frozen set of dead letters, run by the worker cluster.

The operator confirms an exact list of ids, a rate and an optional canary; that list is
stored here and never re-queried, so dead letters that fail after the confirmation are not
swept in. The batch row is the shared state every process reads: the runner
(deadletters.batch_run) reads it before every small chunk, so a pause or a cancel clicked
on any web worker, or typed on the command line, is seen within a moment.

Pause and cancel are a handshake. While a runner holds the batch (a live lease), a click
only asks (`requested`); the runner finishes the items in hand (a chunk of about a
second, or the forward it is waiting for) and acknowledges by setting the status. No item
starts after the acknowledgement, and what it had not reached was never claimed: those
dead letters are still open and free. When no runner holds the batch
(queued, or its worker died) the click acts at once. A running batch whose worker died is
resumed by the sweeper (`resume_stalled`); a paused or cancelled one is left alone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from deadletters.actors import user_or_none

if TYPE_CHECKING:
    from deadletters.actors import Actor

logger = logging.getLogger(__name__)

TASK = "deadletters.tasks.run_replay_batch"


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"
    FINISHED = "finished", "Finished"


class BatchOrigin(models.TextChoices):
    SELECTION = "selection", "Selected dead letters"
    FILTER = "filter", "Everything matching a filter"
    GROUP = "group", "An error group"
    COMMAND = "command", "The command line"


# Outcomes of an item, grouped the way the counters and the badge count them.
OK_OUTCOMES = ("ok", "ignored")
FAILED_OUTCOMES = ("failed", "deferred")
# What a runner may still do with a batch; the others are at rest.
ACTIVE = (BatchStatus.QUEUED, BatchStatus.RUNNING)


def lease_seconds() -> float:
    """How long a runner owns a batch without writing progress: one task run plus a
    replay's own lease (a chunk in hand). Past it, the runner is taken for dead."""
    return float(settings.DEADLETTER_BATCH_TASK_SECONDS) + float(settings.DEADLETTER_REPLAY_LEASE_SECONDS)


def default_rate() -> float | None:
    rate = float(settings.DEADLETTER_BATCH_RATE)
    return rate if rate > 0 else None


class ReplayBatch(models.Model):
    """One bulk replay: what was confirmed, at what pace, how far it got, who steered it."""

    description = models.CharField(max_length=300, help_text="What the operator confirmed, in words.")
    source = models.CharField(max_length=20, default="bulk", help_text="Recorded on each replay record.")
    origin = models.CharField(
        max_length=20, choices=BatchOrigin.choices, default=BatchOrigin.SELECTION,
        help_text="Where the set came from: a selection, a filter, an error group or the command line.",
    )
    origin_url = models.CharField(
        max_length=2000, blank=True, help_text="A link back to the filter or group the set came from."
    )
    dead_letter_ids = models.JSONField(default=list, help_text="The exact dead letters confirmed, in order.")
    rate = models.FloatField(
        null=True, blank=True, help_text="Items started per second at most; empty: as fast as possible."
    )
    canary = models.PositiveIntegerField(
        default=0, help_text="Replay the first N alone; if any fails, pause and ask (0: no canary)."
    )
    include_superseded = models.BooleanField(
        default=False, help_text="Also replay dead letters a newer processed delivery superseded."
    )
    destination = models.ForeignKey(
        "webhooks.ForwardDestination", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Forwarded topics go here instead of their route's destination.",
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Items handled so far (whatever their outcome).")
    ok = models.PositiveIntegerField(default=0, help_text="Replays that resolved their dead letter.")
    failed = models.PositiveIntegerField(default=0, help_text="Replays that failed again (left open).")
    skipped = models.PositiveIntegerField(default=0, help_text="Not open any more, or replayed by someone else.")
    superseded = models.PositiveIntegerField(default=0, help_text="Resolved without a replay: a newer delivery won.")
    status = models.CharField(max_length=20, choices=BatchStatus.choices, default=BatchStatus.QUEUED)
    requested = models.CharField(
        max_length=10, blank=True, help_text="pause or cancel: asked while a worker held the batch, not yet done."
    )
    pause_reason = models.CharField(max_length=300, blank=True, help_text="Why it paused (who, canary, failures).")
    window_start = models.PositiveIntegerField(
        default=0, help_text="The automatic pause counts failures from this item on (reset on resume)."
    )
    anchor_at = models.DateTimeField(null=True, blank=True, help_text="Pacing: the rate counts from here.")
    anchor_done = models.PositiveIntegerField(default=0, help_text="Pacing: items done at anchor_at.")
    history = models.JSONField(default=list, blank=True, help_text="Every change of state: when, who, what, why.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who confirmed the batch.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True, help_text="When the last pause took effect.")
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last queued.")
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While running: when the claim lapses (the worker died)."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "replay batches"
        indexes = [
            # ReplayBatch.resume_stalled(): running batches whose worker died.
            models.Index(fields=["status", "lease_expires_at"], name="deadletters_batch_status"),
        ]

    def __str__(self) -> str:
        return f"replay batch {self.pk}: {self.done}/{self.total}"

    # --- what the pages show ------------------------------------------------------------

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    @property
    def is_finished(self) -> bool:
        return self.status == BatchStatus.FINISHED

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def outcome(self) -> tuple[str, str]:
        """(badge kind, words): what happened, honestly. A finished batch whose every
        replay failed is "all failed", never a green "finished"."""
        if self.status == BatchStatus.PAUSED:
            return "paused", "paused"
        if self.status == BatchStatus.CANCELLED:
            return "cancelled", "cancelled"
        if self.is_active:
            if self.requested:
                return "replaying", f"{self.requested} asked"
            return "replaying", self.get_status_display().lower()
        if self.failed and not self.ok:
            return "failed", "all failed"
        if self.failed:
            return "partial", "some failed"
        if not self.ok:
            return "received", "nothing replayed"
        return "ok", "all ok"

    def eta_seconds(self) -> float | None:
        """Seconds left at the batch's pace: its rate, or (as fast as possible) the pace
        measured since it last started or resumed."""
        left = self.total - self.done
        if not self.is_active or left <= 0:
            return None
        if self.rate:
            return left / self.rate
        pace = self.measured_pace()
        return left * pace if pace else None

    def measured_pace(self) -> float | None:
        """Seconds per item since the batch last started or resumed (None before any)."""
        if self.anchor_at is None or self.done <= self.anchor_done:
            return None
        elapsed = (timezone.now() - self.anchor_at).total_seconds()
        return elapsed / (self.done - self.anchor_done) if elapsed > 0 else None

    # --- starting -----------------------------------------------------------------------

    @classmethod
    def start(
        cls, ids: list[int], actor: Actor, description: str, *, source: str = "bulk", rate: float | None = None,
        canary: int = 0, origin: str = BatchOrigin.SELECTION, origin_url: str = "", include_superseded: bool = False,
        destination: Any = None, enqueue: bool = True,
    ) -> ReplayBatch:
        """Store the frozen id set and (unless `enqueue` is False: the command line runs it
        itself) hand the batch to the worker cluster after commit."""
        user = user_or_none(actor)
        batch = cls.objects.create(
            description=description[:300], source=source[:20], dead_letter_ids=list(ids), total=len(ids),
            created_by=user, rate=rate if rate and rate > 0 else None, canary=max(0, canary), origin=origin,
            origin_url=origin_url[:2000], include_superseded=include_superseded, destination=destination,
            history=[_change(actor, "started", _pace(rate, canary))],
        )
        if enqueue:
            # After commit: with the Redis broker a worker could otherwise look for the row
            # before it exists.
            transaction.on_commit(batch.enqueue)
        return batch

    def enqueue(self) -> None:
        from django_q.tasks import async_task

        ReplayBatch.objects.filter(pk=self.pk).update(enqueued_at=timezone.now())
        async_task(TASK, self.pk, save=False, task_name=f"replay-batch-{self.pk}")

    @classmethod
    def resume_stalled(cls) -> int:
        """The sweeper's part: re-enqueue active batches whose worker died (lease lapsed) or
        whose queued task was lost (the Redis broker never hands a lost task out again). A
        pause or cancel asked of a runner that died is carried out here. Paused and
        cancelled batches are left alone."""
        now = timezone.now()
        lapsed = Q(status=BatchStatus.RUNNING, lease_expires_at__lt=now)
        lost = Q(status=BatchStatus.QUEUED, lease_expires_at__isnull=True) & (
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=lease_seconds())))
        resumed = 0
        for batch in cls.objects.filter(lapsed | lost):
            if batch.requested and batch._settle_request(now):
                continue
            batch.enqueue()
            resumed += 1
        return resumed

    # --- steering (any process: web workers, the command line) -----------------------------

    def pause(self, actor: Actor, reason: str = "") -> str:
        """Pause: at once when no runner holds the batch, else ask the runner (it stops
        after the items in hand). Returns "paused", "asked" or "" (not running)."""
        why = reason.strip() or f"paused by {_who(actor)}"
        return self._halt("pause", BatchStatus.PAUSED, actor, why)

    def cancel(self, actor: Actor) -> str:
        """Cancel: what it has not reached stays open and unclaimed. A paused batch is
        cancelled at once. Returns "cancelled", "asked" or "" (already at rest)."""
        return self._halt("cancel", BatchStatus.CANCELLED, actor, f"cancelled by {_who(actor)}")

    def resume(self, actor: Actor) -> bool:
        """Resume a paused batch (or take back a pause not yet carried out) at its rate,
        counting the automatic pause's failures afresh. False when it was not paused."""
        with transaction.atomic():
            row = ReplayBatch.objects.select_for_update().get(pk=self.pk)
            if row.status == BatchStatus.PAUSED:
                row.status, row.pause_reason, row.paused_at = BatchStatus.QUEUED, "", None
                row.window_start, row.anchor_at, row.anchor_done = row.done, None, row.done
                again = True
            elif row.is_active and row.requested == "pause":
                again = False
            else:
                return False
            row.requested = ""
            row.history = [*row.history, _change(actor, "resumed", "")]
            row.save()
            if again:
                transaction.on_commit(row.enqueue)
        self.refresh_from_db()
        return True

    def _halt(self, asked: str, status: str, actor: Actor, reason: str) -> str:
        now = timezone.now()
        with transaction.atomic():
            row = ReplayBatch.objects.select_for_update().get(pk=self.pk)
            held = row.status == BatchStatus.RUNNING and row.lease_expires_at is not None and row.lease_expires_at >= now
            pausable = (BatchStatus.QUEUED, BatchStatus.RUNNING)
            allowed = pausable if asked == "pause" else (*pausable, BatchStatus.PAUSED)
            if row.status not in allowed or (held and row.requested in ("cancel", asked)):
                return ""
            if held:
                row.requested, result = asked, "asked"
                row.history = [*row.history, _change(actor, f"{asked} asked", reason)]
            else:
                row._rest(status, now, reason)
                row.history = [*row.history, _change(actor, status, reason)]
                result = status
            row.save()
        self.refresh_from_db()
        return result

    def _rest(self, status: str, now: Any, reason: str) -> None:
        """Put the batch at rest (paused, cancelled), in memory; the caller saves."""
        self.status, self.requested, self.lease_expires_at = status, "", None
        if status == BatchStatus.PAUSED:
            self.paused_at, self.pause_reason = now, reason[:300]
        else:
            self.finished_at = now

    def _settle_request(self, now: Any) -> bool:
        """Carry out the pause or cancel a dead runner was asked for. True when done."""
        status = BatchStatus.PAUSED if self.requested == "pause" else BatchStatus.CANCELLED
        reason = "paused: its worker stopped before it could" if status == BatchStatus.PAUSED else ""
        updated = ReplayBatch.objects.filter(pk=self.pk, requested=self.requested, status=self.status).update(
            status=status, requested="", lease_expires_at=None, **(
                {"paused_at": now, "pause_reason": reason} if status == BatchStatus.PAUSED else {"finished_at": now}),
        )
        return updated == 1


class BatchItem(models.Model):
    """One dead letter of a batch as the batch handled it: the per-item report. Topic, shop
    and error class are copied so the report reads (and filters) without joins, and stays
    readable after the dead letter is cleaned up. Ids and classes only: no payload text."""

    batch = models.ForeignKey(ReplayBatch, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(help_text="Its place in the confirmed list.")
    dead_letter_id = models.BigIntegerField(help_text="The dead letter (it may have been cleaned up since).")
    outcome = models.CharField(max_length=20, help_text="ok, ignored, failed, deferred, skipped or superseded.")
    topic = models.CharField(max_length=100, blank=True)
    shop_domain = models.CharField(max_length=255, blank=True)
    error_class = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=300, blank=True, help_text="Why it failed or was skipped, one line.")
    superseded_by = models.BigIntegerField(null=True, blank=True, help_text="The newer delivery (event id) that won.")
    started_at = models.DateTimeField(help_text="When its chunk started.")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["batch", "position"], name="deadletters_batchitem_position")]
        indexes = [
            # The report: failures first, filtered by outcome.
            models.Index(fields=["batch", "outcome", "position"], name="deadletters_batchitem_outcome"),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of batch {self.batch_id}: {self.outcome}"


def _who(actor: Actor) -> str:
    user = user_or_none(actor)
    return user.get_username() if user is not None else "the command line"


def _change(actor: Actor, what: str, why: str) -> dict[str, Any]:
    user = user_or_none(actor)
    return {"at": timezone.now().isoformat(), "who": _who(actor), "user_id": user.pk if user else None,
            "what": what, "why": why[:300]}


def _pace(rate: float | None, canary: int) -> str:
    pace = f"{rate:g} per second" if rate and rate > 0 else "as fast as possible"
    return pace + (f", canary of {canary}" if canary else "")
