"""The circuit breaker that forward destinations and topics share (an abstract model).

A breaker counts consecutive failures; past its threshold it opens and the events behind
it wait (RetryLater: deferred, no attempt burnt) until its cool-down ends, when one worker
takes the half-open probe. Staff can pause it (events wait) and resume it (the waiting
events are released at once). Every transition is one conditional UPDATE on the breaker's
row, so two workers never both take the probe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from webhooks import textsafe
from webhooks.errors import RetryLater
from webhooks.signals import breaker_released


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed (deliveries flow)"
    OPEN = "open", "Open (deliveries wait)"
    HALF_OPEN = "half_open", "Half-open (one probe)"


class CircuitBreaker(models.Model):
    paused = models.BooleanField(default=False, help_text="Paused by staff: events wait until it is resumed.")
    state = models.CharField(max_length=20, choices=BreakerState.choices, default=BreakerState.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="When the breaker last opened.")
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="The last failure, one line.")
    paused_at = models.DateTimeField(null=True, blank=True, help_text="When staff paused it.")
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who paused it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    # Names of the settings that tune this kind of breaker.
    threshold_setting: ClassVar[str]
    cooldown_setting: ClassVar[str]

    class Meta:
        abstract = True

    @property
    def label(self) -> str:
        """How the breaker is named in a waiting event's reason, e.g. "destination 'app'"."""
        raise NotImplementedError

    @property
    def waiting_key(self) -> str:
        """What WebhookEvent.waiting_for holds for the events that wait for this breaker."""
        raise NotImplementedError

    def _cooldown(self) -> timedelta:
        return timedelta(seconds=getattr(settings, self.cooldown_setting))

    def _wait(self, until: datetime, reason: str) -> RetryLater:
        return RetryLater(until, f"{self.label}{reason}", waiting_for=self.waiting_key)

    def admit(self, now: datetime | None = None, *, refresh: bool = True) -> bool:
        """May an event go now? Returns True for the one half-open probe, False for a
        closed breaker; raises RetryLater while paused, open, or probed by another worker.
        `refresh=False` when the caller has just read the row."""
        now = now or timezone.now()
        if refresh:
            self.refresh_from_db()
        if self.paused:
            raise self._wait(now + timedelta(seconds=settings.FORWARD_PAUSED_RECHECK_SECONDS), " is paused")
        if self.state == BreakerState.CLOSED:
            return False
        ready_at = (self.opened_at or now) + self._cooldown()
        if now < ready_at:
            raise self._wait(ready_at, f": circuit {self.state}, next probe after cool-down")
        # Open past its cool-down, or a half-open probe that never reported back: claim the
        # probe. opened_at doubles as the claim token, and restarts the cool-down.
        won = type(self)._default_manager.filter(
            pk=self.pk, state=self.state, opened_at=self.opened_at, paused=False
        ).update(state=BreakerState.HALF_OPEN, opened_at=now)
        if won != 1:
            raise self._wait(now + self._cooldown(), ": another worker is probing")
        self.state, self.opened_at = BreakerState.HALF_OPEN, now
        return True

    def record_success(self) -> None:
        """Close the breaker; if it was not closed, the events waiting for it run now."""
        was = self.state
        type(self)._default_manager.filter(pk=self.pk).update(
            state=BreakerState.CLOSED, consecutive_failures=0, opened_at=None, last_success_at=timezone.now(),
            last_error="", updated_at=timezone.now(),
        )
        self.refresh_from_db()
        if was != BreakerState.CLOSED and not self.paused:
            self.release_waiting()

    def record_failure(self, error: str) -> bool:
        """Count a failure; returns True when the breaker is open afterwards."""
        now = timezone.now()
        type(self)._default_manager.filter(pk=self.pk).update(
            consecutive_failures=F("consecutive_failures") + 1, last_failure_at=now,
            last_error=textsafe.for_field(type(self), "last_error", error)[:1000], updated_at=now,
        )
        self.refresh_from_db()
        trips = self.state == BreakerState.HALF_OPEN or (
            self.state == BreakerState.CLOSED and self.consecutive_failures >= getattr(settings, self.threshold_setting)
        )
        if trips:
            type(self)._default_manager.filter(pk=self.pk, state=self.state).update(state=BreakerState.OPEN, opened_at=now)
            self.refresh_from_db()
        return self.state == BreakerState.OPEN

    def reopen_at(self) -> datetime:
        """When the open breaker lets its next probe through."""
        return (self.opened_at or timezone.now()) + self._cooldown()

    def pause(self, actor: Any = None) -> bool:
        """Stop deliveries: events wait. False when it was already paused."""
        changed = type(self)._default_manager.filter(pk=self.pk, paused=False).update(
            paused=True, paused_at=timezone.now(), paused_by=actor, updated_at=timezone.now()
        )
        self.refresh_from_db()
        return changed == 1

    def resume(self, actor: Any = None) -> bool:
        """Let deliveries flow again and hand the events that waited for it to the workers
        at once. False when it was not paused."""
        with transaction.atomic():
            changed = type(self)._default_manager.filter(pk=self.pk, paused=True).update(
                paused=False, paused_at=None, paused_by=None, updated_at=timezone.now()
            )
            if changed == 1:
                self.release_waiting()
        self.refresh_from_db()
        return changed == 1

    def release_waiting(self) -> int:
        """Make the events waiting for this breaker due now and enqueue them: processing
        does it (webhooks.processing.worker.wake_waiting, a receiver of `breaker_released`),
        since processing builds on the breaker, not the other way round. Returns how many."""
        responses = breaker_released.send(sender=type(self), waiting_key=self.waiting_key)
        return sum(int(count or 0) for _, count in responses)

    def reset(self) -> None:
        """Close the breaker by hand (staff know the endpoint is back)."""
        self.record_success()
