"""Dead letters: events that used up their attempts, with the evidence and the replay trail.

A dead letter points at its dead event and copies no payload: a privacy redaction has one
place to scrub. The PROTECT foreign key makes the database refuse to delete an event an
open (or any) dead letter still points at; retention also leaves such events alone.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from webhooks.models import WebhookEvent

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


class DeadLetterQuerySet(models.QuerySet["DeadLetter"]):
    def unresolved(self) -> DeadLetterQuerySet:
        return self.filter(status__in=[DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING])

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
        help_text="Who resolved or ignored it (empty when a replay resolved it on its own).",
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
            models.Index(fields=["shop_domain", "status"], name="deadletters_shop"),
            # Filter by topic; the dashboard's open dead letters by topic.
            models.Index(fields=["topic", "status"], name="deadletters_topic"),
        ]

    def __str__(self) -> str:
        return f"dead letter {self.pk}: {self.topic} {self.shop_domain} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING)


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
    outcome = models.CharField(max_length=20, help_text="ok, failed, ignored, deferred or skipped.")
    error = models.TextField(blank=True)
    summary = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"replay of {self.dead_letter_id}: {self.outcome}"
