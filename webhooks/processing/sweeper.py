"""The sweeper: events that should be running but are not.

- Stored (or due again) and not handed to a worker recently: enqueued again (the broker
  lost the task, a Redis timer died with its worker).
- Processing with a lapsed lease: the worker died in the middle (SIGKILL, out of memory,
  the cluster's timeout fired while the outcome was being written). The sweeper takes the
  event back and records the dead worker's attempt ("the worker died while processing"),
  which counts against the same budget as any failure: a poison event that kills its
  worker every time ends dead, never in a loop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from webhooks.models import AttemptOutcome, EventStatus, WebhookEvent
from webhooks.processing import queue
from webhooks.processing.attempt import AttemptResult, LostClaim, dead_letter_unrecorded, record_failure
from webhooks.processing.worker import settle

logger = logging.getLogger("webhooks.processing")

WORKER_DIED = "WorkerDied"


def sweepable(now: datetime | None = None) -> Q:
    """Events that should be running but are not: stored and never picked up (or waiting,
    due, and not handed out since), or claimed by a worker whose lease lapsed."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    waiting_due = Q(status=EventStatus.RECEIVED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    # A retry's task is written for its due time (last_enqueued_at = that time): it is
    # only swept when it has not run a lease after that.
    not_recently_enqueued = Q(last_enqueued_at__isnull=True) | Q(last_enqueued_at__lt=grace)
    return (waiting_due & not_recently_enqueued) | Q(status=EventStatus.PROCESSING, lease_expires_at__lt=now)


def to_sweep(*, batch: int = 500, now: datetime | None = None) -> QuerySet[WebhookEvent]:
    """The events the sweeper would take back or re-enqueue now, oldest first, at most `batch`."""
    return WebhookEvent.objects.filter(sweepable(now)).order_by("received_at")[:batch]


def take_back(event: WebhookEvent) -> bool:
    """Record the attempt of a worker that died holding `event` (its lease lapsed) and
    settle the event like any failed attempt: due again after its back-off, or dead.
    False when someone else took it meanwhile."""
    lapsed = event.lease_expires_at
    assert lapsed is not None
    result = AttemptResult(
        outcome=AttemptOutcome.FAILED, number=event.attempts + 1, error_class=WORKER_DIED,
        error_message=f"the worker died while processing (its lease lapsed at {lapsed.isoformat()})",
    )
    try:
        record_failure(event, lapsed, result, "sweeper", settle=settle)
    except LostClaim:
        return False
    except Exception as exc:  # noqa: BLE001 - as for any attempt: an unrecordable outcome ends dead
        dead_letter_unrecorded(event, lapsed, result, exc, "sweeper")
    return True


def sweep(*, batch: int = 500, now: datetime | None = None) -> int:
    """Take back or re-enqueue up to `batch` stuck events, oldest first; returns how many."""
    now = now or timezone.now()
    events = list(to_sweep(batch=batch, now=now))
    if not events:
        return 0
    lapsed = [e for e in events if e.status == EventStatus.PROCESSING]
    waiting = [e.pk for e in events if e.status != EventStatus.PROCESSING]
    taken = sum(take_back(event) for event in lapsed)
    WebhookEvent.objects.filter(pk__in=waiting, status=EventStatus.RECEIVED).update(last_enqueued_at=now)
    for event_id in waiting:
        queue.enqueue(event_id)
    logger.info("sweeper took back %d events from dead workers and re-enqueued %d", taken, len(waiting))
    return taken + len(waiting)
