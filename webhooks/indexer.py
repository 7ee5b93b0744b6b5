"""Writing the subject index (webhooks.subject_index): one event's rows, a list of events'
rows, the backfill of events never indexed, and the worker's call when it claims an event.

Above webhooks.models: the writers read and mark the events, while the table's module sits
below the models (the event queryset's `mentioning()` reads it).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webhooks import subjects
from webhooks.models import EventSubject, WebhookEvent

logger = logging.getLogger(__name__)


def index(event: WebhookEvent) -> int:
    """(Re)build one event's rows from its payload as stored now; returns how many.
    Call it while the event cannot be deleted under you: claimed by this worker, or
    locked (select_for_update), as every caller here does."""
    return reindex([event], clear=event.subjects_indexed_at is not None)


def reindex(events: list[WebhookEvent], *, clear: bool = True) -> int:
    """Rebuild the rows of these events from their payloads, in one transaction of at
    most three statements (the old rows out, the new ones in, the events marked);
    returns the rows written. `clear=False` skips the DELETE for events never indexed
    (the worker's usual case). The events must not be deleted meanwhile (see index)."""
    if not events:
        return 0
    now = timezone.now()
    ids = [event.pk for event in events]
    rows = [
        EventSubject(event_id=event.pk, kind=k, value=v, primary=p)
        for event in events
        for k, v, p in subjects.extract(event.topic, event.payload)
    ]
    with transaction.atomic():
        if clear:
            EventSubject.objects.filter(event_id__in=ids).delete()
        EventSubject.objects.bulk_create(rows, batch_size=1000)
        WebhookEvent._base_manager.filter(pk__in=ids).update(subjects_indexed_at=now)
    for event in events:
        event.subjects_indexed_at = now
    return len(rows)


def backfill(batch: int | None = None) -> int:
    """Index up to `batch` (SUBJECT_INDEX_BACKFILL_BATCH) finished events that have no
    index yet, oldest first, in one transaction; returns how many. Unfinished events
    are left to the worker, which indexes each one it claims. The events are locked
    first: retention cannot delete one half-way (EventSubject.event has no database
    constraint to refuse an orphan, like EventAttempt.event)."""
    size = batch or settings.SUBJECT_INDEX_BACKFILL_BATCH
    ids = list(WebhookEvent.objects.unindexed().finished().order_by("pk").values_list("pk", flat=True)[:size])
    if not ids:
        return 0
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.select_for_update()
            .filter(pk__in=ids, subjects_indexed_at__isnull=True)
            .only("pk", "topic", "payload")
        )
        reindex(events)
    return len(events)


def index_claimed_event(event: WebhookEvent) -> WebhookEvent:
    """The worker's call, when it first reads an event it claimed: the event as stored now,
    indexed. Never raises: an event whose indexing failed stays unindexed, and the sweeper's
    backfill tries again once it is finished.

    The payload is read again under the row's lock: a customers/redact may have erased it
    since the claim read it, and indexing (or handling) that stale copy would put the
    e-mail back into the index. The redaction erases under the same lock
    (privacy.redact_customer), so the two are ordered: either the redaction waits and then
    erases what this indexed, or this waits and reads the erased payload."""
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event.pk)
            index(event)
    except Exception:  # noqa: BLE001 - the handler must run whatever the index does
        logger.warning("event %s: subject index not written; the backfill will retry", event.pk, exc_info=True)
        event.refresh_from_db()
    return event
