"""The staleness guard: has a newer delivery of the same resource already been processed?

Shopify does not promise order. Replaying yesterday's `orders/updated` for an order whose
newer update was processed since would write stale data. A dead letter is **superseded**
when another event of the same shop

- is about the same resource: the same primary subject (the top-level object's id, from
  the subject index: webhooks.subject_index),
- of the same topic family (`orders/*` for `orders/updated`),
- was processed,
- and is newer: a later X-Shopify-Triggered-At, or a later `updated_at` in its payload.

The confirmation lists those as "superseded by delivery N"; a replay resolves them as
superseded instead of running them, unless the operator includes them (see replay.py,
which also answers for dead letters: `replay.superseded`). This module knows events only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

from webhooks import subjects
from webhooks.models import EventStatus, WebhookEvent
from webhooks.subject_index import EventSubject, pairs_q

# How the outcome names the newer delivery (a dead letter's note, a replay's summary).
NOTE = "superseded by delivery {}"
_NOTE = re.compile(r"superseded by delivery (\d+)")


def note(event_id: int) -> str:
    return NOTE.format(event_id)


def newer_event_in(text: str) -> int | None:
    """The newer delivery a superseded outcome names, or None."""
    found = _NOTE.search(text or "")
    return int(found.group(1)) if found else None


def family(topic: str) -> str:
    return topic.split("/", 1)[0]


def updated_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None  # no zone: cannot be compared


class Delivery(NamedTuple):
    """What the comparison needs of one event."""

    shop_domain: str
    family: str
    triggered_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Delivery:
        return cls(row["shop_domain"], family(row["topic"]), row["triggered_at"], updated_at(row["payload__updated_at"]))

    def supersedes(self, older: Delivery) -> bool:
        """Same shop and topic family, and later by the provider's clock or the payload's."""
        if (self.shop_domain, self.family) != (older.shop_domain, older.family):
            return False
        if self.triggered_at and older.triggered_at and self.triggered_at > older.triggered_at:
            return True
        return bool(self.updated_at and older.updated_at and self.updated_at > older.updated_at)


def superseding_events(event_ids: list[int]) -> dict[int, int]:
    """{event id: the newest processed delivery of the same resource} for superseded ones."""
    fields = ("pk", "shop_domain", "topic", "triggered_at", "payload__updated_at")
    events: dict[int, Delivery] = {}
    # Primary subjects straight from the payload: a dead letter from before the index
    # existed needs no backfill first. The candidates come from the index.
    wanted: dict[tuple[str, str], list[int]] = {}
    for row in WebhookEvent.objects.filter(pk__in=event_ids).values(*fields, "payload"):
        events[row["pk"]] = Delivery.of(row)
        for subject in subjects.extract(row["topic"], row["payload"]):
            if subject.primary:
                wanted.setdefault((subject.kind, subject.value), []).append(row["pk"])
    query = pairs_q(wanted, primary=True)
    if query is None:
        return {}
    matches = list(EventSubject.objects.filter(query).exclude(event_id__in=event_ids).values_list("event_id", "kind", "value"))
    candidates = {row["pk"]: Delivery.of(row) for row in WebhookEvent.objects.filter(
        pk__in={event_id for event_id, _, _ in matches}, status=EventStatus.PROCESSED).values(*fields)}
    result: dict[int, int] = {}
    for candidate_id, kind, value in matches:
        candidate = candidates.get(candidate_id)
        if candidate is None:
            continue
        for pk in wanted.get((kind, value), []):
            if candidate.supersedes(events[pk]) and candidate_id > result.get(pk, 0):
                result[pk] = candidate_id
    return result
