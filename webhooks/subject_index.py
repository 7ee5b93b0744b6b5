"""The subject index: which customers and orders each stored event mentions.

One small table of (event, kind, value, primary) rows, filled from the payload's structure
(webhooks.subjects) when a worker first reads a claimed event, whatever the handler then
does: a dead letter is indexed too. Events stored before the index existed, or whose
indexing failed, are found by `WebhookEvent.objects.unindexed()` and indexed a batch at a
time by the sweeper job (`indexer.backfill()`), or at once by `manage.py index_subjects`.

This module is the table and its queries; it sits below webhooks.models (whose event
queryset takes SubjectQueries in). Writing the rows needs the events, so it is in
webhooks.indexer: `index(event)`, `reindex(events)`, `backfill()`, `index_claimed_event`.

The model-level API (values are normalised for you, see webhooks.subjects.normalise):

    WebhookEvent.objects.mentioning("email", "Jon@Example.com")      # events, a queryset
    WebhookEvent.objects.mentioning("order_name", "#1001")           # "1001" is the same
    WebhookEvent.objects.mentioning_any([("customer_id", 7), ("order_id", 450789469)])
    WebhookEvent.objects.mentioning("order_id", 5, primary=True)     # events *about* order 5
    WebhookEvent.objects.matching_search("#4939")                    # what staff typed
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

from collections.abc import Iterable
from typing import Any, Self

from django.db import models
from django.db.models import Q

from webhooks import subjects
from webhooks.subjects import Subject


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
        return self.mentioning_any(subjects.guess(text))


class EventSubjectQuerySet(models.QuerySet["EventSubject"]):
    def matching(self, kind: str, value: Any, *, primary: bool = False) -> EventSubjectQuerySet:
        """Rows for this (kind, value), the value normalised (served by the kind/value index)."""
        query = pairs_q([(kind, value)], primary=primary)
        return self.filter(query) if query is not None else self.none()

    def of_event(self, event: models.Model | int) -> list[Subject]:
        """What one event mentions, primary subjects first."""
        pk = event if isinstance(event, int) else event.pk
        rows = self.filter(event_id=pk).order_by("-primary", "kind", "value").values_list("kind", "value", "primary")
        return [Subject(kind, value, primary) for kind, value, primary in rows]


class EventSubject(models.Model):
    """One subject (a customer or an order) that one event's payload mentions."""

    # No database constraint, like EventAttempt.event and for the same reasons: rows are
    # written only while their event is claimed or locked (see webhooks.indexer.index
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
