"""Claims: who may work on an event now. A claim is one conditional UPDATE that sets the
status to processing with a lease deadline; the deadline doubles as the claim token, and
every later write of the claimant is conditional on it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Field, Q, QuerySet
from django.utils import timezone

from webhooks.models import EventStatus, WebhookEvent

# What a replay may take: dead events, and failed ones (EventStatus.FAILED: rows stored
# before events ended dead, when a worker gave up between attempts).
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


REPLAY = "replay"  # WebhookEvent.claimed_for of a replay's claim


def _claimed(statuses: tuple[str, ...]) -> dict[str, Any]:
    # Whoever takes a dead event is a replay: if it dies holding the claim, the sweeper puts
    # the event back to dead (sweeper.take_back), never into a worker's retries.
    claimed_for = "" if EventStatus.RECEIVED in statuses else REPLAY
    return {"status": EventStatus.PROCESSING, "next_attempt_at": None, "waiting_for": "", "claimed_for": claimed_for}


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
        lease_expires_at=token, **_claimed(statuses)
    )
    return token if updated == 1 else None


def claim_many(
    event_ids: Collection[int], *, statuses: tuple[str, ...] = REPLAYABLE
) -> tuple[datetime, dict[int, WebhookEvent]]:
    """`claim` for many events with one UPDATE; call it in the transaction that takes the
    rest of the caller's claims, so that they commit together. Returns the lease (the claim
    token of all of them) and every event asked for, read after the claim: the claimed
    ones are those `holds` says so of. The lease is a dead-letter replay's
    (DEADLETTER_REPLAY_LEASE_SECONDS), like the claim on the dead letters: a chunk is never
    renewed, and one that outlasts a worker's lease must not be taken back as a dead worker."""
    token = timezone.now() + timedelta(seconds=settings.DEADLETTER_REPLAY_LEASE_SECONDS)
    if not event_ids:
        return token, {}
    WebhookEvent.objects.filter(_claimable(timezone.now(), statuses), pk__in=event_ids).update(
        lease_expires_at=token, **_claimed(statuses)
    )
    return token, {event.pk: event for event in WebhookEvent.objects.filter(pk__in=event_ids)}


def holds(event: WebhookEvent, token: datetime) -> bool:
    """Whether `event`, as read, is claimed with this lease (token)."""
    return event.status == EventStatus.PROCESSING and event.lease_expires_at == token


def mine(event: WebhookEvent, token: datetime) -> QuerySet[WebhookEvent]:
    """The event's row, if and only if this claim still holds it (for a conditional UPDATE)."""
    return WebhookEvent.objects.filter(pk=event.pk, status=EventStatus.PROCESSING, lease_expires_at=token)


def mine_many(event_ids: Collection[int], token: datetime) -> QuerySet[WebhookEvent]:
    """`mine` for many events claimed with one token."""
    return WebhookEvent.objects.filter(pk__in=event_ids, status=EventStatus.PROCESSING, lease_expires_at=token)


def release(event_ids: Collection[int], token: datetime) -> int:
    """Give back events claimed for a replay that crashed outside its handlers: they are
    dead again, as before the claim (the token check leaves alone what someone else took)."""
    return mine_many(event_ids, token).update(status=EventStatus.DEAD, lease_expires_at=None)


def lock_held(events: Collection[WebhookEvent], token: datetime) -> set[int]:
    """Lock the rows of those of `events` this claim still holds, in primary-key order, for
    the rest of the caller's transaction; returns their ids. Under the lock no one can take
    them over, so the caller may write their outcomes later in the transaction
    (`mark_processed`) instead of proving the claim with each write."""
    if not events:
        return set()
    return set(mine_many([event.pk for event in events], token).select_for_update().order_by("pk")
               .values_list("pk", flat=True))


def mark_processed(events: Sequence[WebhookEvent], token: datetime) -> int:
    """Record the successful attempts of many events claimed with `token` in one UPDATE:
    what `attempt.run_attempt` writes for one event (processed, the attempt's number, when,
    how long, the shop linked), each row's values taken from its event in memory. Returns
    the rows updated: fewer than asked when a claim is no longer held.

    Plain SQL with a CASE per column: the ORM's Case/When (bulk_update) costs more Python
    time than the hundred single UPDATEs it replaces."""
    if not events:
        return 0
    quote = connection.ops.quote_name

    def column(name: str) -> tuple[str, Field[Any, Any]]:
        field = cast("Field[Any, Any]", WebhookEvent._meta.get_field(name))
        return quote(field.column), field

    pk = column("id")[0]
    sets = [f"{column(name)[0]} = %s" for name in ("status", "lease_expires_at", "last_error")]
    params: list[Any] = [EventStatus.PROCESSED.value, None, ""]
    for name in ("attempts", "processed_at", "processing_ms", "shop"):
        name_sql, field = column(name)
        # Only rows with a value: the shop stays as it is where none is linked (and a CASE
        # of NULLs alone would not be typed).
        pairs = [(event.pk, field.get_db_prep_save(getattr(event, field.attname), connection)) for event in events
                 if getattr(event, field.attname) is not None]
        if pairs:
            sets.append(f"{name_sql} = CASE {pk}{' WHEN %s THEN %s' * len(pairs)} ELSE {name_sql} END")
            params += [value for pair in pairs for value in pair]
    (status, _), (expires, lease) = column("status"), column("lease_expires_at")
    where = f"{pk} IN ({', '.join(['%s'] * len(events))}) AND {status} = %s AND {expires} = %s"
    params += [event.pk for event in events] + [EventStatus.PROCESSING.value, lease.get_db_prep_value(token, connection)]
    # Names from the model, values as parameters.
    sql = f"UPDATE {quote(WebhookEvent._meta.db_table)} SET {', '.join(sets)} WHERE {where}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
