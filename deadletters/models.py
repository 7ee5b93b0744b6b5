"""Dead letters: events that used up their attempts, with the evidence and the replay trail.

A dead letter points at its dead event and copies no payload: a privacy redaction has one
place to scrub. The PROTECT foreign key makes the database refuse to delete an event an
open (or any) dead letter still points at; retention also leaves such events alone.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from webhooks import processing
from webhooks.models import AttemptOutcome, EventStatus, WebhookEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Actor = AbstractBaseUser | AnonymousUser | None

logger = logging.getLogger(__name__)

_VOLATILE = re.compile(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+", re.IGNORECASE)


def fingerprint(error_class: str, message: str, topic: str) -> str:
    """Same exception class, same message once numbers and ids are blanked, same topic."""
    normalized = _VOLATILE.sub("#", message.strip().splitlines()[0] if message.strip() else "")[:500]
    return hashlib.sha1(f"{error_class}|{normalized}|{topic}".encode(), usedforsecurity=False).hexdigest()


class DeadLetterStatus(models.TextChoices):
    OPEN = "open", "Open"
    REPLAYING = "replaying", "Replaying"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


class ReplayOutcome(models.TextChoices):
    OK = "ok", "Succeeded"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored (no handler)"
    DEFERRED = "deferred", "Deferred"
    SKIPPED = "skipped", "Skipped (not open, or replayed by someone else)"


def _replayable(now: datetime) -> Q:
    """Open, or claimed by a replay whose lease lapsed (that process died)."""
    return Q(status=DeadLetterStatus.OPEN) | Q(status=DeadLetterStatus.REPLAYING, replay_lease_expires_at__lt=now)


class DeadLetterQuerySet(models.QuerySet["DeadLetter"]):
    def unresolved(self) -> DeadLetterQuerySet:
        return self.filter(status__in=[DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING])

    def replayable(self) -> DeadLetterQuerySet:
        """What a replay may claim now: open ones, and stuck replays whose lease lapsed."""
        return self.filter(_replayable(timezone.now()))

    def error_groups(self) -> models.QuerySet[Any]:
        """Unresolved dead letters per fingerprint, biggest group first (uses the fingerprint index)."""
        return (
            self.unresolved()
            .values("fingerprint")
            .annotate(
                count=models.Count("id"),
                first_seen=models.Min("created_at"),
                last_seen=models.Max("created_at"),
                error_class=models.Max("error_class"),
                topic=models.Max("topic"),
                message=models.Max("error_message"),
            )
            .order_by("-count", "-last_seen")
        )

    def cleanable(self, older_than_days: int) -> DeadLetterQuerySet:
        """Resolved or ignored dead letters last touched more than N days ago."""
        cutoff = timezone.now() - timedelta(days=older_than_days)
        return self.filter(status__in=[DeadLetterStatus.RESOLVED, DeadLetterStatus.IGNORED], updated_at__lt=cutoff)

    def cleanup(self, older_than_days: int, *, dry_run: bool = False) -> int:
        """Delete resolved and ignored dead letters older than N days; returns how many.
        Open ones are never touched. Their replay records go with them (CASCADE)."""
        doomed = self.cleanable(older_than_days)
        if dry_run:
            return doomed.count()
        _, per_model = doomed.delete()
        return per_model.get(self.model._meta.label, 0)


class DeadLetter(models.Model):
    # The database's guarantee that retention never deletes what a dead letter needs: a
    # real foreign key (unlike the attempts' and exports'), whatever the dead letter's
    # status. On PostgreSQL it is ON DELETE RESTRICT (migration 0005): one look-up per
    # deleted event instead of NO ACTION's two, the cheaper half of retention's cost.
    event = models.ForeignKey(
        WebhookEvent, on_delete=models.PROTECT, related_name="dead_letters",
        help_text="The dead event; its payload and attempts are read from there.",
    )
    provider = models.CharField(max_length=20, default="shopify")
    topic = models.CharField(max_length=100, help_text="Copied from the event, to filter without a join.")
    shop_domain = models.CharField(max_length=255, blank=True, help_text="Copied from the event.")
    error_class = models.CharField(max_length=255, help_text="The exception class of the last failure.")
    error_message = models.TextField(blank=True, help_text="The exception message of the last failure.")
    traceback = models.TextField(blank=True, help_text="The full traceback of the last failure.")
    fingerprint = models.CharField(
        max_length=40, help_text="Groups dead letters with the same exception, normalized message and topic."
    )
    attempts = models.JSONField(
        default=list, blank=True, help_text="Each attempt before it died: number, start, duration, outcome, error."
    )
    status = models.CharField(max_length=20, choices=DeadLetterStatus.choices, default=DeadLetterStatus.OPEN)
    replay_count = models.PositiveIntegerField(default=0, help_text="How many replays ran.")
    last_replayed_at = models.DateTimeField(null=True, blank=True)
    last_replay_error = models.TextField(blank=True, help_text="The error of the last failed replay.")
    replay_lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While replaying: when the claim lapses (the replaying process died)."
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who resolved or ignored it, or whose replay resolved it (empty for the command line).",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="Why it was resolved or ignored.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the event died.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeadLetterQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("replay_deadletter", "Can replay dead letters"),
            ("resolve_deadletter", "Can resolve or ignore dead letters"),
            ("cleanup_deadletter", "Can clean up old dead letters"),
        ]
        constraints = [
            # At most one unresolved dead letter per event: a second death reopens it.
            models.UniqueConstraint(
                fields=["event"],
                condition=models.Q(status__in=["open", "replaying"]),
                name="deadletters_one_open_per_event",
            ),
        ]
        indexes = [
            # The changelist's status filter sorted by age; health's open count; cleanup.
            models.Index(fields=["status", "created_at"], name="deadletters_status_created"),
            # Error groups: count open dead letters by fingerprint.
            models.Index(fields=["fingerprint", "status"], name="deadletters_fingerprint"),
            # Filter and search by shop.
            # (exact or prefix: pattern operator class on PostgreSQL, see webhooks' shop index).
            models.Index(
                fields=["shop_domain", "status"], name="deadletters_shop", opclasses=["varchar_pattern_ops", "varchar_ops"]
            ),
            # Filter by topic; the dashboard's open dead letters by topic.
            models.Index(fields=["topic", "status"], name="deadletters_topic"),
            # DeadLetter.replay's claim takes an open row by primary key, or a "replaying" one
            # whose lease lapsed; replayable() (command --all, replay-matching) scans these.
            models.Index(
                fields=["replay_lease_expires_at"],
                name="deadletters_replaying_lease",
                condition=models.Q(status="replaying"),
            ),
        ]

    def __str__(self) -> str:
        return f"dead letter {self.pk}: {self.topic} {self.shop_domain} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING)

    # --- replay ------------------------------------------------------------------------

    def _claim(self) -> datetime | None:
        """Take the dead letter for one replay with a conditional UPDATE. Returns the lease
        deadline (the claim token), or None: someone else is replaying it, or it is closed.
        Two staff clicking at once, or a double click: one UPDATE changes the row, the
        other changes nothing and its replay is skipped, so the handler runs once."""
        now = timezone.now()
        lease = now + timedelta(seconds=settings.DEADLETTER_REPLAY_LEASE_SECONDS)
        updated = DeadLetter.objects.filter(_replayable(now), pk=self.pk).update(
            status=DeadLetterStatus.REPLAYING, replay_lease_expires_at=lease
        )
        return lease if updated == 1 else None

    def replay(self, actor: Actor = None, *, source: str = "admin") -> ReplayRecord:
        """Run the event's handler once more. Success resolves the dead letter (the event is
        then processed); failure puts it back to open with the new error. Never raises for a
        handler error: the outcome is in the returned ReplayRecord."""
        t0 = time.perf_counter()
        lease = self._claim()
        if lease is None:
            return self._record(actor, source, ReplayOutcome.SKIPPED, t0, error="not open, or being replayed by someone else")
        trigger = "command" if source == "command" else "replay"
        try:
            result = processing.replay_event(self.event_id, trigger=trigger)
        except Exception as exc:  # noqa: BLE001 - the claim must be released whatever happened
            logger.exception("replay of dead letter %s crashed", self.pk)
            error = f"{type(exc).__name__}: {exc}"[:1000]
            self._reopen(lease, error_line=error)
            return self._record(actor, source, ReplayOutcome.FAILED, t0, error=error)
        if result is None:
            # The event was not dead any more: the worker processed it meanwhile, or it is
            # being processed right now. Resolve only what is really done.
            status = WebhookEvent.objects.filter(pk=self.event_id).values_list("status", flat=True).first()
            if status in (EventStatus.PROCESSED, EventStatus.IGNORED):
                self._resolve_by_replay(lease, actor, f"event already {status}")
                return self._record(actor, source, ReplayOutcome.OK, t0, summary=f"the event was already {status}")
            self._reopen(lease, error_line="", count=False)
            return self._record(actor, source, ReplayOutcome.SKIPPED, t0, error=f"the event is {status}, not dead")
        if result.ok or result.outcome == AttemptOutcome.IGNORED:
            self._resolve_by_replay(lease, actor, "resolved by replay")
            outcome = ReplayOutcome.OK if result.ok else ReplayOutcome.IGNORED
            return self._record(actor, source, outcome, t0, summary=result.summary)
        self._reopen(lease, error_line=result.one_line_error, result=result, trigger=trigger)
        outcome = ReplayOutcome.DEFERRED if result.outcome == AttemptOutcome.DEFERRED else ReplayOutcome.FAILED
        return self._record(actor, source, outcome, t0, error=result.one_line_error, traceback=result.traceback)

    def _resolve_by_replay(self, lease: datetime, actor: Actor, note: str) -> None:
        now = timezone.now()
        current = DeadLetter.objects.filter(pk=self.pk).values_list("note", flat=True).first() or ""
        # The token check: a replay whose lease lapsed and was taken over writes nothing.
        DeadLetter.objects.filter(pk=self.pk, status=DeadLetterStatus.REPLAYING, replay_lease_expires_at=lease).update(
            status=DeadLetterStatus.RESOLVED,
            resolved_at=now,
            resolved_by=_user_or_none(actor),
            note=f"{current}\n{note}".strip(),
            replay_count=F("replay_count") + 1,
            last_replayed_at=now,
            replay_lease_expires_at=None,
            updated_at=now,
        )
        self.refresh_from_db()

    def _reopen(
        self, lease: datetime, *, error_line: str, result: Any = None, count: bool = True, trigger: str = "replay"
    ) -> None:
        now = timezone.now()
        values: dict[str, Any] = {"status": DeadLetterStatus.OPEN, "replay_lease_expires_at": None, "updated_at": now}
        if count:
            values.update(replay_count=F("replay_count") + 1, last_replayed_at=now, last_replay_error=error_line)
        if result is not None and result.error_class:
            # The newest failure is the one to read and group by; older ones stay in the
            # attempt history below and in the replay records.
            values.update(
                error_class=result.error_class[:255],
                error_message=result.error_message,
                traceback=result.traceback,
                fingerprint=fingerprint(result.error_class, result.error_message, self.topic),
                attempts=[*self.attempts, {
                    "number": result.number,
                    "trigger": trigger,
                    "started_at": result.started_at.isoformat(),
                    "duration_ms": round(result.duration_ms, 1),
                    "outcome": result.outcome,
                    "error": error_line[:2000],
                }],
            )
        DeadLetter.objects.filter(pk=self.pk, status=DeadLetterStatus.REPLAYING, replay_lease_expires_at=lease).update(
            **values
        )
        self.refresh_from_db()

    def _record(
        self, actor: Actor, source: str, outcome: str, t0: float, *, error: str = "", summary: str = "",
        traceback: str = "", dry_run: bool = False,
    ) -> ReplayRecord:
        return ReplayRecord.objects.create(
            dead_letter=self,
            actor=_user_or_none(actor),
            source=source[:20],
            dry_run=dry_run,
            duration_ms=(time.perf_counter() - t0) * 1000,
            outcome=outcome,
            error=(f"{error}\n\n{traceback}".strip() if traceback else error)[:20_000],
            summary=summary[:500],
        )

    def dry_run(self, actor: Actor = None, *, source: str = "admin") -> ReplayRecord:
        """What a replay would do now: the handler runs in a transaction that is rolled back.
        Only the dry-run record is written; the dead letter and its event stay as they are."""
        t0 = time.perf_counter()
        result = processing.dry_run_event(self.event)
        outcomes: dict[str, str] = {
            AttemptOutcome.OK: ReplayOutcome.OK,
            AttemptOutcome.IGNORED: ReplayOutcome.IGNORED,
            AttemptOutcome.DEFERRED: ReplayOutcome.DEFERRED,
        }
        outcome = outcomes.get(result.outcome, ReplayOutcome.FAILED)
        return self._record(
            actor, source, outcome, t0, error=result.one_line_error if not result.ok else "",
            summary=result.summary, traceback=result.traceback, dry_run=True,
        )

    # --- closing by hand ---------------------------------------------------------------

    def _close(self, status: str, actor: Actor, note: str) -> bool:
        note = note.strip()
        if not note:
            raise ValueError("a note is required: say why")
        now = timezone.now()
        # Conditional: a dead letter being replayed right now is left to that replay.
        updated = DeadLetter.objects.filter(_replayable(now), pk=self.pk).update(
            status=status, resolved_by=_user_or_none(actor), resolved_at=now, note=note,
            replay_lease_expires_at=None, updated_at=now,
        )
        self.refresh_from_db()
        return updated == 1

    def resolve(self, actor: Actor, note: str) -> bool:
        """Mark it handled (e.g. fixed by hand in the shop). False if it was not open."""
        return self._close(DeadLetterStatus.RESOLVED, actor, note)

    def ignore(self, actor: Actor, note: str) -> bool:
        """Mark it as not worth replaying (e.g. a test shop). False if it was not open."""
        return self._close(DeadLetterStatus.IGNORED, actor, note)


def _user_or_none(actor: Actor) -> Any:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


class ReplayRecord(models.Model):
    """One replay or dry run of a dead letter: who, when, what happened."""

    dead_letter = models.ForeignKey(DeadLetter, on_delete=models.CASCADE, related_name="replays")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who replayed it; empty for the command line or a background job without a user.",
    )
    source = models.CharField(max_length=20, default="admin", help_text="admin, bulk, command.")
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.FloatField(default=0)
    outcome = models.CharField(max_length=20, choices=ReplayOutcome.choices)
    error = models.TextField(blank=True)
    summary = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "replay"
        return f"{kind} of {self.dead_letter_id}: {self.outcome}"


from deadletters.batches import ReplayBatch  # noqa: E402,F401  (a model of this app)
