"""The subject index: which customers and orders each stored event mentions.

One small table of (event, kind, value, primary) rows, filled from the payload's structure
(webhooks.subjects) when a worker first reads a claimed event, whatever the handler then
does: a dead letter is indexed too. Events stored before the index existed, or whose
indexing failed, are found by `WebhookEvent.objects.unindexed()` and indexed a batch at a
time by the sweeper job (`EventSubject.objects.backfill()`), or at once by
`manage.py index_subjects`.

The model-level API (values are normalised for you, see webhooks.subjects.normalise):

    WebhookEvent.objects.mentioning("email", "Jon@Example.com")      # events, a queryset
    WebhookEvent.objects.mentioning("order_name", "#1001")           # "1001" is the same
    WebhookEvent.objects.mentioning_any([("customer_id", 7), ("order_id", 450789469)])
    WebhookEvent.objects.mentioning("order_id", 5, primary=True)     # events *about* order 5
    WebhookEvent.objects.matching_search("#4939")                    # what staff typed
    EventSubject.objects.events_mentioning(kind, value)             # the same as mentioning()
    EventSubject.objects.of_event(event)                             # [Subject(kind, value, primary)]

Kinds: customer_id, email, phone, order_id, order_name, draft_order_id, checkout_id.
"Primary" subjects are the event's own resource (an orders/updated event's order id, a
customers/update event's customer id): a newer delivery about the same resource is an
event with the same primary subject and a later `triggered_at`. Only claimed events are
indexed: one still waiting for a worker is in `unindexed()`.

The table is kept up to date by the worker, by redaction (an event's rows are rebuilt
from its scrubbed payload; a shop's go with shop/redact) and by retention (rows go with
their event, in the same transaction: the foreign key is CASCADE).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from webhooks import subjects
from webhooks.subjects import Subject

if TYPE_CHECKING:
    from webhooks.models import WebhookEvent, WebhookEventQuerySet

logger = logging.getLogger(__name__)


def pairs_q(pairs: Iterable[tuple[str, Any]], *, primary: bool = False) -> Q | None:
    """A filter on EventSubject for any of these (kind, raw value) pairs, normalised; None
    when no pair holds a value that can be indexed (nothing can match)."""
    by_kind: dict[str, set[str]] = {}
    for kind, raw in pairs:
        value = subjects.normalise(kind, raw)
        if value is not None:
            by_kind.setdefault(kind, set()).add(value)
    query: Q | None = None
    for kind, values in by_kind.items():
        term = Q(kind=kind, value__in=sorted(values)) if len(values) > 1 else Q(kind=kind, value=values.pop())
        query = term if query is None else query | term
    if query is not None and primary:
        query &= Q(primary=True)
    return query


class SubjectQueries:
    """The subject index's methods of WebhookEvent.objects (a mixin of its QuerySet)."""

    filter: Any
    none: Any

    def unindexed(self) -> Self:
        """Events the subject index knows nothing of yet: stored before it existed, not yet
        claimed by a worker, or whose indexing failed (served by a partial index)."""
        return self.filter(subjects_indexed_at__isnull=True)

    def mentioning(self, kind: str, value: Any, *, primary: bool = False) -> Self:
        """Events whose payload mentions this subject, found through the subject index
        (webhooks.subject_index): `kind` one of webhooks.subjects.KINDS, `value` as typed
        (normalised here: "#1001" and "1001", "Jon@X.com" and "jon@x.com" are one).
        `primary`: only events whose own resource it is (orders/updated of that order)."""
        return self.mentioning_any([(kind, value)], primary=primary)

    def mentioning_any(self, pairs: Iterable[tuple[str, Any]], *, primary: bool = False) -> Self:
        """Events that mention any of these (kind, value) pairs, each event once."""
        query = pairs_q(pairs, primary=primary)
        if query is None:
            return self.none()
        return self.filter(pk__in=EventSubject.objects.filter(query).values("event_id"))

    def matching_search(self, text: str) -> Self:
        """Events mentioning what a person typed: an e-mail, an order name ("#4939"), an
        order or customer id (webhooks.subjects.guess says which kinds a text can mean)."""
        from webhooks.subjects import guess

        return self.mentioning_any(guess(text))


class EventSubjectQuerySet(models.QuerySet["EventSubject"]):
    def matching(self, kind: str, value: Any, *, primary: bool = False) -> EventSubjectQuerySet:
        """Rows for this (kind, value), the value normalised (served by the kind/value index)."""
        query = pairs_q([(kind, value)], primary=primary)
        return self.filter(query) if query is not None else self.none()

    def events_mentioning(self, kind: str, value: Any, *, primary: bool = False) -> WebhookEventQuerySet:
        """The events whose payload mentions this subject (`primary`: whose own resource it is)."""
        from webhooks.models import WebhookEvent

        return WebhookEvent.objects.mentioning(kind, value, primary=primary)

    def of_event(self, event: WebhookEvent | int) -> list[Subject]:
        """What one event mentions, primary subjects first."""
        pk = event if isinstance(event, int) else event.pk
        rows = self.filter(event_id=pk).order_by("-primary", "kind", "value").values_list("kind", "value", "primary")
        return [Subject(kind, value, primary) for kind, value, primary in rows]

    def index(self, event: WebhookEvent) -> int:
        """(Re)build one event's rows from its payload as stored now; returns how many.
        Call it while the event cannot be deleted under you: claimed by this worker, or
        locked (select_for_update), as every caller here does."""
        return self.reindex([event], clear=event.subjects_indexed_at is not None)

    def reindex(self, events: list[WebhookEvent], *, clear: bool = True) -> int:
        """Rebuild the rows of these events from their payloads, in one transaction of at
        most three statements (the old rows out, the new ones in, the events marked);
        returns the rows written. `clear=False` skips the DELETE for events never indexed
        (the worker's usual case). The events must not be deleted meanwhile (see index)."""
        if not events:
            return 0
        from webhooks.models import WebhookEvent

        now = timezone.now()
        ids = [event.pk for event in events]
        rows = [
            EventSubject(event_id=event.pk, kind=k, value=v, primary=p)
            for event in events
            for k, v, p in subjects.extract(event.topic, event.payload)
        ]
        with transaction.atomic():
            if clear:
                self.filter(event_id__in=ids).delete()
            self.bulk_create(rows, batch_size=1000)
            WebhookEvent._base_manager.filter(pk__in=ids).update(subjects_indexed_at=now)
        for event in events:
            event.subjects_indexed_at = now
        return len(rows)

    def backfill(self, batch: int | None = None) -> int:
        """Index up to `batch` (SUBJECT_INDEX_BACKFILL_BATCH) finished events that have no
        index yet, oldest first, in one transaction; returns how many. Unfinished events
        are left to the worker, which indexes each one it claims. The events are locked
        first: retention cannot delete one half-way (EventSubject.event has no database
        constraint to refuse an orphan, like EventAttempt.event)."""
        from webhooks.models import WebhookEvent

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
            self.reindex(events)
        return len(events)


class EventSubject(models.Model):
    """One subject (a customer or an order) that one event's payload mentions."""

    # No database constraint, like EventAttempt.event and for the same reasons: rows are
    # written only while their event is claimed or locked (see EventSubjectQuerySet.index
    # and backfill), and retention deletes them in the transaction that deletes the event.
    event = models.ForeignKey(
        "webhooks.WebhookEvent", on_delete=models.CASCADE, related_name="subjects", db_constraint=False
    )
    kind = models.CharField(
        max_length=20, help_text="customer_id, email, phone, order_id, order_name, draft_order_id or checkout_id."
    )
    value = models.CharField(
        max_length=subjects.MAX_VALUE,
        help_text="Normalised: e-mails lower case, phones as digits, order names without '#'.",
    )
    primary = models.BooleanField(default=False, help_text="The event's own resource (its top-level object's id).")

    objects = EventSubjectQuerySet.as_manager()

    class Meta:
        indexes = [
            # "Which events mention customer X / order Y": redaction, data requests, the
            # support search and the replay staleness check; event_id included so the
            # answer comes from the index alone.
            models.Index(fields=["kind", "value", "event"], name="webhooks_subject_lookup"),
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} mentions {self.kind} {self.value}"


def index_claimed_event(event: WebhookEvent) -> None:
    """The worker's call, when it first reads an event it claimed. Never raises: an event
    whose indexing failed stays unindexed, and the sweeper's backfill tries again once it
    is finished."""
    try:
        EventSubject.objects.index(event)
    except Exception:  # noqa: BLE001 - the handler must run whatever the index does
        logger.warning("event %s: subject index not written; the backfill will retry", event.pk, exc_info=True)
