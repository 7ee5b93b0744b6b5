"""Claims: who may work on an event now. A claim is one conditional UPDATE that sets the
status to processing with a lease deadline; the deadline doubles as the claim token, and
every later write of the claimant is conditional on it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from webhooks.models import EventStatus, WebhookEvent

# What a replay may take: dead events, and failed ones (a worker gave up between attempts).
REPLAYABLE = (EventStatus.DEAD, EventStatus.FAILED)


def lease() -> datetime:
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def _claimable(now: datetime, statuses: tuple[str, ...]) -> Q:
    due = Q(status__in=statuses) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    if EventStatus.RECEIVED in statuses:
        # A worker never takes over a lapsed lease itself: the sweeper takes it back first
        # and counts the dead worker's attempt against the budget (sweeper.take_back).
        return due
    # A replay may take over a replay that died holding the claim (its lease lapsed).
    return due | Q(status=EventStatus.PROCESSING, lease_expires_at__lt=now)


_CLAIMED = {"status": EventStatus.PROCESSING, "next_attempt_at": None, "waiting_for": ""}


def claim(event_id: int, *, statuses: tuple[str, ...] = (EventStatus.RECEIVED,)) -> datetime | None:
    """Take an event for processing with one conditional UPDATE.

    Claimable: one of `statuses` and due; for a replay also processing with a lapsed
    lease. Returns the lease deadline (the claim token), or None when the UPDATE changed
    no row: another worker has it, or there is nothing to do.
    """
    return claim_where({"pk": event_id}, statuses)


def claim_where(where: dict[str, Any], statuses: tuple[str, ...]) -> datetime | None:
    """claim() for the one event matching `where` (its primary key, or its delivery)."""
    token = lease()
    updated = WebhookEvent.objects.filter(_claimable(timezone.now(), statuses), **where).update(
        lease_expires_at=token, **_CLAIMED
    )
    return token if updated == 1 else None


def claim_many(
    event_ids: Collection[int], *, statuses: tuple[str, ...] = REPLAYABLE
) -> tuple[datetime, dict[int, WebhookEvent]]:
    """`claim` for many events with one UPDATE; call it in the transaction that takes the
    rest of the caller's claims, so that they commit together. Returns the lease (the claim
    token of all of them) and every event asked for, read after the claim: the claimed
    ones are those `holds` says so of."""
    token = lease()
    if not event_ids:
        return token, {}
    WebhookEvent.objects.filter(_claimable(timezone.now(), statuses), pk__in=event_ids).update(
        lease_expires_at=token, **_CLAIMED
    )
    return token, {event.pk: event for event in WebhookEvent.objects.filter(pk__in=event_ids)}


def holds(event: WebhookEvent, token: datetime) -> bool:
    """Whether `event`, as read, is claimed with this lease (token)."""
    return event.status == EventStatus.PROCESSING and event.lease_expires_at == token


def mine(event: WebhookEvent, token: datetime) -> QuerySet[WebhookEvent]:
    """The event's row, if and only if this claim still holds it (for a conditional UPDATE)."""
    return WebhookEvent.objects.filter(pk=event.pk, status=EventStatus.PROCESSING, lease_expires_at=token)


def release(event_ids: Collection[int], token: datetime) -> int:
    """Give back events claimed for a replay that crashed outside its handlers: they are
    dead again, as before the claim (the token check leaves alone what someone else took)."""
    return WebhookEvent.objects.filter(pk__in=event_ids, status=EventStatus.PROCESSING, lease_expires_at=token).update(
        status=EventStatus.DEAD, lease_expires_at=None
    )
