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
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from deadletters.actors import user_or_none
from deadletters.batches import ReplayBatch  # noqa: F401  (a model of this app; it imports nothing of this module)
from webhooks import processing, textsafe
from webhooks.models import AttemptOutcome, WebhookEvent

if TYPE_CHECKING:
    from deadletters.actors import Actor

logger = logging.getLogger(__name__)

_VOLATILE = re.compile(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+", re.IGNORECASE)


_CLASS_NAME = re.compile(r"[A-Za-z_][\w.]*")


def audit_line(action: str, outcome: str = "", error_class: str = "") -> str:
    """An admin log message (or report line) about a dead letter: what was done, how it
    ended, the error's class. Never the error's or a note's text, which can quote a
    customer: that stays on the dead letter, the one place redaction scrubs."""
    line = f"{action}: {outcome}." if outcome else f"{action}."
    return f"{line} {error_class}; the error is on the dead letter." if error_class else line


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
    SUPERSEDED = "superseded", "Superseded by a newer delivery (resolved, not replayed)"


def _replayable(now: datetime) -> Q:
    """Open, or claimed by a replay whose lease lapsed (that process died)."""
    return Q(status=DeadLetterStatus.OPEN) | Q(status=DeadLetterStatus.REPLAYING, replay_lease_expires_at__lt=now)


class DeadLetterQuerySet(models.QuerySet["DeadLetter"]):
    def unresolved(self) -> DeadLetterQuerySet:
        return self.filter(status__in=[DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING])

    def replayable(self) -> DeadLetterQuerySet:
        """What a replay may claim now: open ones, and stuck replays whose lease lapsed."""
        return self.filter(_replayable(timezone.now()))

    def error_groups(self, *, per_topic: bool = False) -> models.QuerySet[Any]:
        """Unresolved dead letters per fingerprint, biggest group first (uses the fingerprint
        index). `per_topic` groups by fingerprint and topic: the same groups, since a
        fingerprint includes its topic, which a caller can also add up by topic."""
        keys = ("fingerprint", "topic") if per_topic else ("fingerprint",)
        figures: dict[str, Any] = {
            "count": models.Count("id"),
            "first_seen": models.Min("created_at"),
            "last_seen": models.Max("created_at"),
            "error_class": models.Max("error_class"),
            "message": models.Max("error_message"),
        }
        if not per_topic:
            figures["topic"] = models.Max("topic")
        return self.unresolved().values(*keys).annotate(**figures).order_by("-count", "-last_seen")

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
            # Search by shop.
            # (exact or prefix: pattern operator class on PostgreSQL, see webhooks' shop index).
            models.Index(
                fields=["shop_domain", "status"], name="deadletters_shop", opclasses=["varchar_pattern_ops", "varchar_ops"]
            ),
            # Filter by topic; the dashboard's open dead letters by topic.
            models.Index(fields=["topic", "status"], name="deadletters_topic"),
            # The changelist's default page: newest first, with no filter (the index above
            # leads with status and cannot serve that order; 100,000 rows were sorted).
            models.Index(fields=["-created_at"], name="deadletters_created"),
            # The changelist's error class filter lists its values from this index.
            models.Index(fields=["error_class", "status"], name="deadletters_error_class"),
            # A replay's claim (deadletters.replay) takes an open row by primary key, or a "replaying" one
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

    # --- replay (deadletters.replay: replay_one, replay_many) ----------------------------

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
        record = ReplayRecord.build(
            self, user_or_none(actor), source, outcome, (time.perf_counter() - t0) * 1000, dry_run=True,
            error=result.one_line_error if not result.ok else "", summary=result.summary, traceback=result.traceback,
        )
        record.save()
        return record

    # --- closing by hand ---------------------------------------------------------------

    def _close(self, status: str, actor: Actor, note: str) -> bool:
        note = textsafe.for_field(DeadLetter, "note", note.strip())
        if not note:
            raise ValueError("a note is required: say why")
        now = timezone.now()
        # Conditional: a dead letter being replayed right now is left to that replay.
        updated = DeadLetter.objects.filter(_replayable(now), pk=self.pk).update(
            status=status, resolved_by=user_or_none(actor), resolved_at=now, note=note,
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

    def reopen(self, actor: Actor, note: str) -> bool:
        """Undo a resolve or an ignore: open again, the note says why. False if it was not
        resolved or ignored, or if its event has another open dead letter (the event died
        again since: that one is the one to work on)."""
        note = textsafe.for_field(DeadLetter, "note", note.strip())
        if not note:
            raise ValueError("a note is required: say why")
        others_open = DeadLetter.objects.filter(event=models.OuterRef("event")).unresolved()
        closed = DeadLetter.objects.filter(
            ~models.Exists(others_open), pk=self.pk, status__in=[DeadLetterStatus.RESOLVED, DeadLetterStatus.IGNORED]
        )
        try:
            # The partial unique index (one open per event) settles a race with a new death.
            with transaction.atomic():
                updated = closed.update(status=DeadLetterStatus.OPEN, resolved_by=None, resolved_at=None, note=note,
                                        updated_at=timezone.now())
        except IntegrityError:
            updated = 0
        self.refresh_from_db()
        return updated == 1


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
    payload_revision = models.ForeignKey(
        "webhooks.PayloadRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The edited payload this replay ran on (edit and replay); empty: the received one.",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "replay"
        return f"{kind} of {self.dead_letter_id}: {self.outcome}"

    @property
    def error_class(self) -> str:
        """The exception class its error starts with ("module.Class: message"), or ""
        when the error is a note of ours (skipped, not open)."""
        head = self.error.split(":", 1)[0] if ":" in self.error else ""
        return head if _CLASS_NAME.fullmatch(head) else ""

    @classmethod
    def build(
        cls, dead_letter: DeadLetter, user: Any, source: str, outcome: str, duration_ms: float, *, error: str = "",
        summary: str = "", traceback: str = "", dry_run: bool = False, revision: Any = None,
    ) -> ReplayRecord:
        """An unsaved record, its texts cut to fit."""
        return cls(
            dead_letter=dead_letter,
            actor=user,
            source=textsafe.for_field(cls, "source", source),
            dry_run=dry_run,
            duration_ms=duration_ms,
            outcome=outcome,
            error=textsafe.clean(f"{error}\n\n{traceback}".strip() if traceback else error, 20_000),
            summary=textsafe.for_field(cls, "summary", summary),
            payload_revision=revision,
        )

