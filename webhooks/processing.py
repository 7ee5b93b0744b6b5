"""Processing of stored events: claim, run the handler, record the attempt, retry, give up.

One code path serves the worker task, the sweeper, replays and dry runs:
- `process_event` claims an event and runs up to 1 + len(WEBHOOK_RETRY_DELAYS) attempts
  with back-off between them; the last failure marks it dead (signal `event_dead`).
- `replay_event` claims a dead event and runs exactly one attempt; `claim_many` and
  `replay_claimed` do the same for many events at once (bulk replay of dead letters).
- `dry_run_event` runs the handler in a transaction that is always rolled back.
- `sweep` re-enqueues events whose claim lapsed or that were never picked up.
"""

from __future__ import annotations

import logging
import os
import time
import traceback as tb
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from webhooks import handlers, logcontext
from webhooks.errors import PermanentError, RetryLater
from webhooks.models import AttemptOutcome, EventAttempt, EventStatus, Shop, WebhookEvent
from webhooks.signals import event_dead
from webhooks.subject_index import index_claimed_event

logger = logging.getLogger(__name__)

TASK = "webhooks.tasks.process_event"
# The intake's task names the delivery, not the row: it is built and signed before the
# INSERT that gives the row its id, so that both can be written by one statement.
DELIVERY_TASK = "webhooks.tasks.process_delivery"
# What a replay may take: dead events, and failed ones (a worker gave up between attempts).
REPLAYABLE = (EventStatus.DEAD, EventStatus.FAILED)


@dataclass
class AttemptResult:
    outcome: str  # an AttemptOutcome value
    duration_ms: float = 0.0
    summary: str = ""
    error_class: str = ""
    error_message: str = ""
    traceback: str = ""
    permanent: bool = False
    until: datetime | None = None
    number: int = 0
    started_at: datetime = field(default_factory=timezone.now)

    @property
    def ok(self) -> bool:
        return self.outcome == AttemptOutcome.OK

    @property
    def one_line_error(self) -> str:
        return f"{self.error_class}: {self.error_message}".strip(": ")[:1000]


class _LostClaim(Exception):
    """Another worker took the event over (our lease lapsed): roll our work back."""


class _DryRunRollback(Exception):
    pass


_BROKER: tuple[int, Any] | None = None


def _broker() -> Any:
    """One django-q2 broker per process. async_task builds a new one per task otherwise,
    which with Redis is a new client and connection per delivery. Keyed by pid so that a
    forked worker never shares its parent's socket."""
    global _BROKER
    if _BROKER is None or _BROKER[0] != os.getpid():
        from django_q.brokers import get_broker

        _BROKER = (os.getpid(), get_broker())
    return _BROKER[1]


def queue_is_transactional() -> bool:
    """True when the broker's queue is a table of our own database (django-q2's ORM broker):
    a task written inside a transaction, or by the statement that stores the event, is then
    committed or rolled back with the event."""
    from django_q.brokers.orm import ORM

    return isinstance(_broker(), ORM)


class _Capture:
    """A stand-in broker for async_task: django-q2 builds, signs and announces the task
    (pre_enqueue) as usual, and we keep the package instead of sending it."""

    def __init__(self, list_key: str) -> None:
        self.list_key = list_key
        self.package: str | None = None

    def enqueue(self, package: str) -> str:
        self.package = package
        return "with its event"  # what django-q2's "Enqueued [queue] ..." line shows


def delivery_task(provider: str, webhook_id: str) -> tuple[str, str]:
    """(queue name, signed django-q2 package) of the task that processes this delivery."""
    from django_q.tasks import async_task

    capture = _Capture(_broker().list_key)
    # save=False: no django-q2 Success row per event (its pruning locks the table).
    async_task(DELIVERY_TASK, provider, webhook_id, save=False, task_name=f"delivery-{webhook_id}"[:100], broker=capture)
    assert capture.package is not None
    return capture.list_key, capture.package


def send_task(package: str, *, webhook_id: str) -> bool:
    """Send a package built by delivery_task() to a broker outside the database (Redis),
    after the event is committed. Never raises: the sweeper finds events stored but never
    picked up."""
    try:
        _broker().enqueue(package)
    except Exception:  # noqa: BLE001
        logger.warning("could not enqueue delivery %s; the sweeper will retry", webhook_id, exc_info=True)
        return False
    return True


def enqueue_now(event_id: int) -> None:
    """Put the event's task on the queue; raises what the broker raises."""
    from django_q.tasks import async_task

    async_task(TASK, event_id, save=False, task_name=f"event-{event_id}", broker=_broker())


def enqueue(event_id: int) -> bool:
    """Hand an event to the worker cluster. Never raises: the sweeper covers a failure."""
    try:
        enqueue_now(event_id)
    except Exception:  # noqa: BLE001
        logger.warning("could not enqueue event %s; the sweeper will retry", event_id, exc_info=True)
        return False
    return True


def _lease() -> datetime:
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def _claimable(now: datetime, statuses: tuple[str, ...]) -> Q:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return (Q(status__in=statuses) & due) | Q(status=EventStatus.PROCESSING, lease_expires_at__lt=now)


def claim(event_id: int, *, statuses: tuple[str, ...] = (EventStatus.RECEIVED,)) -> datetime | None:
    """Take an event for processing with one conditional UPDATE.

    Claimable: one of `statuses` (and due), or processing with a lapsed lease (its worker
    died). Returns the lease deadline, which doubles as the claim token, or None when the
    UPDATE changed no row: another worker has it, or there is nothing to do.
    """
    return _claim_where({"pk": event_id}, statuses)


def _claim_where(where: dict[str, Any], statuses: tuple[str, ...]) -> datetime | None:
    """claim() for the one event matching `where` (its primary key, or its delivery)."""
    lease = _lease()
    updated = WebhookEvent.objects.filter(_claimable(timezone.now(), statuses), **where).update(
        status=EventStatus.PROCESSING, lease_expires_at=lease, next_attempt_at=None
    )
    return lease if updated == 1 else None


def claim_many(
    event_ids: Collection[int], *, statuses: tuple[str, ...] = REPLAYABLE
) -> tuple[datetime, dict[int, WebhookEvent]]:
    """`claim` for many events with one UPDATE; call it in the transaction that takes the
    rest of the caller's claims, so that they commit together. Returns the lease (the claim
    token of all of them) and every event asked for, read after the claim: the claimed
    ones are those `holds` says so of."""
    lease = _lease()
    if not event_ids:
        return lease, {}
    WebhookEvent.objects.filter(_claimable(timezone.now(), statuses), pk__in=event_ids).update(
        status=EventStatus.PROCESSING, lease_expires_at=lease, next_attempt_at=None
    )
    return lease, {event.pk: event for event in WebhookEvent.objects.filter(pk__in=event_ids)}


def holds(event: WebhookEvent, lease: datetime) -> bool:
    """Whether `event`, as read, is claimed with this lease (token)."""
    return event.status == EventStatus.PROCESSING and event.lease_expires_at == lease


def release(event_ids: Collection[int], lease: datetime) -> int:
    """Give back events claimed for a replay that crashed outside its handlers: they are
    dead again, as before the claim (the token check leaves alone what someone else took)."""
    return WebhookEvent.objects.filter(pk__in=event_ids, status=EventStatus.PROCESSING, lease_expires_at=lease).update(
        status=EventStatus.DEAD, lease_expires_at=None
    )


def _shop_for(event: WebhookEvent, known: dict[str, Shop] | None = None) -> Shop | None:
    # Read for every attempt on purpose: a failed attempt's rollback does not undo what its
    # handler changed on the Python object, so a retry must start from the stored row.
    # `known`: rows a bulk replay read in one query; each serves one attempt only (popped),
    # so a second event of the same shop reads the row again, as its handler left it.
    if event.provider != "shopify" or not event.shop_domain:
        return None
    shop = known.pop(event.shop_domain, None) if known is not None else None
    if shop is None:
        shop, _ = Shop.objects.get_or_create(domain=event.shop_domain)
    return shop


def _attempt_row(event: WebhookEvent, result: AttemptResult, trigger: str) -> EventAttempt:
    return EventAttempt(
        event=event,
        number=result.number,
        trigger=trigger,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        outcome=result.outcome,
        error_class=result.error_class[:255],
        error_message=result.error_message,
        traceback=result.traceback,
        summary=result.summary[:500],
    )


def _record(event: WebhookEvent, result: AttemptResult, trigger: str) -> None:
    # Callers write the attempt in the transaction whose conditional UPDATE just proved
    # the claim on the event row (see EventAttempt.event): never on its own.
    _attempt_row(event, result, trigger).save()


# Where an attempt row goes: None writes it at once; a bulk replay collects them instead
# and inserts them with one statement in the same transaction.
Recorder = Callable[[EventAttempt], Any] | None


def _run_attempt(
    event: WebhookEvent, func: handlers.HandlerFunc, lease: datetime, trigger: str, *,
    shops: dict[str, Shop] | None = None, record: Recorder = None, destination: Any = None,
) -> AttemptResult:
    """Run the handler once. On success its work, the processed status and the attempt row
    commit in one transaction; on failure the handler's work is rolled back and the attempt
    row is written afterwards, so the evidence survives the rollback. Inside a caller's
    transaction (a bulk replay) the transaction here is a savepoint: a failure rolls back
    this handler's work only."""
    number = event.attempts + 1
    result = AttemptResult(outcome=AttemptOutcome.OK, number=number)
    shop = _shop_for(event, shops)
    # The event is linked to its shop by the UPDATE that records the outcome, whichever it is.
    link: dict[str, Any] = {"shop": shop} if shop is not None and event.shop_id != shop.pk else {}
    ctx = handlers.HandlerContext(event=event, shop=shop, attempt=number, destination=destination)
    t0 = time.perf_counter()
    try:
        # A non-atomic handler (forwarding) does its outside work first, in autocommit;
        # the outcome is then recorded in a transaction of its own.
        summary = None if handlers.is_atomic(func) else func(ctx)
        with transaction.atomic():
            if handlers.is_atomic(func):
                summary = func(ctx)
            result.duration_ms = (time.perf_counter() - t0) * 1000
            result.summary = summary or ""
            updated = WebhookEvent.objects.filter(
                pk=event.pk, status=EventStatus.PROCESSING, lease_expires_at=lease
            ).update(
                status=EventStatus.PROCESSED,
                attempts=number,
                processed_at=timezone.now(),
                processing_ms=result.duration_ms,
                lease_expires_at=None,
                last_error="",
                **link,
            )
            if updated != 1:
                raise _LostClaim(f"event {event.pk} was claimed by another worker")
            if record is None:
                _record(event, result, trigger)
        if record is not None:
            record(_attempt_row(event, result, trigger))
    except _LostClaim:
        raise
    except RetryLater as exc:
        result.outcome, result.until = AttemptOutcome.DEFERRED, exc.until
        result.error_class, result.error_message = type(exc).__name__, exc.reason
    except Exception as exc:  # noqa: BLE001 - any handler error is recorded, not raised
        result.outcome = AttemptOutcome.FAILED
        result.error_class = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        result.error_message = str(exc)[:10_000]
        result.traceback = tb.format_exc()[-50_000:]
        result.permanent = isinstance(exc, PermanentError)
    if not result.ok:
        result.duration_ms = (time.perf_counter() - t0) * 1000
        event.attempts = number
        # The failure is recorded under the claim too: the UPDATE locks the event row and
        # proves it is still ours, so the attempt row is never written for an event that
        # retention deleted meanwhile (EventAttempt.event has no database constraint to
        # refuse it). A bulk replay writes the row later in this same transaction.
        with transaction.atomic():
            updated = WebhookEvent.objects.filter(
                pk=event.pk, status=EventStatus.PROCESSING, lease_expires_at=lease
            ).update(attempts=number, last_error=result.one_line_error, **link)
            if updated != 1:
                raise _LostClaim(f"event {event.pk} was claimed by another worker or deleted")
            if record is None:
                _record(event, result, trigger)
        if record is not None:
            record(_attempt_row(event, result, trigger))
    else:
        event.attempts = number
        event.status = EventStatus.PROCESSED
    if link:
        event.shop = shop
    return result


def _finish(event: WebhookEvent, status: str, **extra: object) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=status, lease_expires_at=None, processed_at=timezone.now(), **extra
    )
    event.status = status


def _ignore(event: WebhookEvent, trigger: str, lease: datetime) -> bool:
    """Record "no handler" under the claim; False when the claim was lost (nothing written)."""
    with transaction.atomic():
        number = event.attempts + 1
        updated = WebhookEvent.objects.filter(
            pk=event.pk, status=EventStatus.PROCESSING, lease_expires_at=lease
        ).update(status=EventStatus.IGNORED, lease_expires_at=None, processed_at=timezone.now(), attempts=number)
        if updated != 1:
            return False
        event.status, event.attempts = EventStatus.IGNORED, number
        _record(event, AttemptResult(outcome=AttemptOutcome.IGNORED, number=number, summary="no handler for this topic"), trigger)
    return True


def _defer(event: WebhookEvent, result: AttemptResult) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=EventStatus.RECEIVED, lease_expires_at=None, next_attempt_at=result.until
    )
    event.status = EventStatus.RECEIVED


def _die(event: WebhookEvent, result: AttemptResult) -> None:
    with transaction.atomic():
        _finish(event, EventStatus.DEAD)
        event_dead.send(sender=WebhookEvent, event=event, result=result)
    # The class only: a message can carry a customer's personal data, and log lines are
    # beyond the reach of a redaction (the database copy is scrubbed on request).
    logger.warning("event %s (%s) dead after %s attempts: %s", event.pk, event.webhook_id, event.attempts, result.error_class)


@logcontext.scoped
def process_delivery(provider: str, webhook_id: str) -> str:
    """The intake's task: process the event stored for this delivery. Claimed and read by
    the delivery index, so the task costs no lookup of the row's id first."""
    return _process({"provider": provider, "webhook_id": webhook_id}, trigger="worker")


@logcontext.scoped
def process_event(event_id: int, *, trigger: str = "worker") -> str:
    """Claim and process one event; returns the final status, or "skipped" if not claimed."""
    return _process({"pk": event_id}, trigger=trigger)


def _process(where: dict[str, Any], *, trigger: str) -> str:
    lease = _claim_where(where, (EventStatus.RECEIVED,))
    if lease is None:
        return "skipped"
    event = WebhookEvent.objects.get(**where)
    index_claimed_event(event)
    event_id = event.pk
    logcontext.bind(webhook_id=event.webhook_id)
    func = handlers.resolve(event)
    if func is None:
        return EventStatus.IGNORED if _ignore(event, trigger, lease) else "skipped"
    delays: list[float] = list(settings.WEBHOOK_RETRY_DELAYS)
    for attempt_index in range(len(delays) + 1):
        try:
            result = _run_attempt(event, func, lease, trigger)
        except _LostClaim:
            logger.warning("event %s: claim lost to another worker, stopping", event_id)
            return "skipped"
        if result.ok:
            return EventStatus.PROCESSED
        if result.outcome == AttemptOutcome.DEFERRED:
            _defer(event, result)
            return "deferred"
        if result.permanent or attempt_index == len(delays):
            _die(event, result)
            return EventStatus.DEAD
        time.sleep(delays[attempt_index])
        # Keep the claim for the next attempt; the new deadline is the new token.
        new_lease = _lease()
        if not WebhookEvent.objects.filter(pk=event_id, lease_expires_at=lease).update(lease_expires_at=new_lease):
            return "skipped"
        lease = new_lease
    raise AssertionError("unreachable")


@logcontext.scoped
def replay_event(event_id: int, *, trigger: str = "replay") -> AttemptResult | None:
    """Run one attempt of a dead (or failed) event. None when it could not be claimed
    (already being replayed, or no longer dead). Success marks it processed; failure puts
    it back to dead without announcing it again (the dead letter records the replay)."""
    lease = claim(event_id, statuses=REPLAYABLE)
    if lease is None:
        return None
    event = WebhookEvent.objects.get(pk=event_id)
    return replay_claimed([event], lease, trigger=trigger)[event_id]


def _replay_one(
    event: WebhookEvent, func: handlers.HandlerFunc, lease: datetime, trigger: str, *,
    shops: dict[str, Shop] | None = None, record: Recorder = None, destination: Any = None,
) -> AttemptResult | None:
    try:
        result = _run_attempt(event, func, lease, trigger, shops=shops, record=record, destination=destination)
    except _LostClaim:
        return None
    if not result.ok:
        _finish(event, EventStatus.DEAD)
    return result


def replay_claimed(
    events: list[WebhookEvent], lease: datetime, *, trigger: str = "replay",
    then: Callable[[dict[int, AttemptResult | None]], None] | None = None, destination: Any = None,
) -> dict[int, AttemptResult | None]:
    """One attempt for each of these events, claimed with `lease`: what `replay_event` does
    for one, for many at once. Returns each event's result by pk, None where the claim was
    lost to someone else meanwhile.

    Handlers that work outside the database (non-atomic) run first, one by one, as for the
    worker. Then one transaction: every other handler in a savepoint of its own, so that a
    failure rolls back that handler's work only; the events' statuses and attempt rows; and
    `then(results)`, the caller's own bookkeeping, which commits together with them. An
    exception outside a handler rolls the whole transaction back and propagates: the events
    stay claimed until the caller gives them back (`release`) or their lease lapses.
    `destination`: a ForwardDestination that forwarding handlers send to instead (a replay
    to another destination).
    """
    results: dict[int, AttemptResult | None] = {}
    # Routing depends on the provider and topic only: resolved once for each of them.
    by_topic: dict[tuple[str, str], handlers.HandlerFunc | None] = {}
    for event in events:
        if (event.provider, event.topic) not in by_topic:
            by_topic[event.provider, event.topic] = handlers.resolve(event)
    funcs = {event.pk: by_topic[event.provider, event.topic] for event in events}
    for event in events:
        func = funcs[event.pk]
        if func is not None and not handlers.is_atomic(func):
            with logcontext.scope(event_pk=event.pk, webhook_id=event.webhook_id):
                results[event.pk] = _replay_one(event, func, lease, trigger, destination=destination)
    with transaction.atomic():
        domains = {e.shop_domain for e in events if e.pk not in results and e.provider == "shopify" and e.shop_domain}
        shops = {shop.domain: shop for shop in Shop.objects.filter(domain__in=domains)} if domains else {}
        rows: list[EventAttempt] = []
        for event in events:
            if event.pk in results:
                continue
            func = funcs[event.pk]
            with logcontext.scope(event_pk=event.pk, webhook_id=event.webhook_id):
                if func is None:
                    # None when the claim was lost meanwhile: nothing written, not ours.
                    results[event.pk] = AttemptResult(
                        outcome=AttemptOutcome.IGNORED, number=event.attempts, summary="no handler for this topic"
                    ) if _ignore(event, trigger, lease) else None
                else:
                    results[event.pk] = _replay_one(
                        event, func, lease, trigger, shops=shops, record=rows.append, destination=destination
                    )
        EventAttempt.objects.bulk_create(rows)
        if then is not None:
            then(results)
    return results


def dry_run_event(event: WebhookEvent) -> AttemptResult:
    """What a replay would do, without changing anything: the handler runs in a
    transaction that is always rolled back, with ctx.dry_run set."""
    func = handlers.resolve(event)
    if func is None:
        return AttemptResult(outcome=AttemptOutcome.IGNORED, summary="no handler for this topic: it would be ignored")
    result = AttemptResult(outcome=AttemptOutcome.OK, number=event.attempts + 1)
    t0 = time.perf_counter()
    try:
        with transaction.atomic():
            shop = Shop.objects.filter(domain=event.shop_domain).first() if event.shop_domain else None
            result.summary = func(handlers.HandlerContext(event, shop, result.number, dry_run=True)) or ""
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    except RetryLater as exc:
        result.outcome, result.until = AttemptOutcome.DEFERRED, exc.until
        result.error_class, result.error_message = type(exc).__name__, exc.reason
    except Exception as exc:  # noqa: BLE001
        result.outcome = AttemptOutcome.FAILED
        result.error_class = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        result.error_message = str(exc)
        result.traceback = tb.format_exc()
        result.permanent = isinstance(exc, PermanentError)
    result.duration_ms = (time.perf_counter() - t0) * 1000
    return result


def sweepable(now: datetime | None = None) -> Q:
    """Events that should be running but are not: stored and never picked up (or waiting
    and now due), or claimed by a worker whose lease lapsed (killed, broker lost it)."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    waiting_due = Q(status=EventStatus.RECEIVED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    not_recently_enqueued = Q(last_enqueued_at__isnull=True) | Q(last_enqueued_at__lt=grace) | Q(next_attempt_at__lte=now)
    return (waiting_due & not_recently_enqueued) | Q(status=EventStatus.PROCESSING, lease_expires_at__lt=now)


def to_sweep(*, batch: int = 500, now: datetime | None = None) -> QuerySet[WebhookEvent]:
    """The events the sweeper would re-enqueue now, oldest first, at most `batch`."""
    return WebhookEvent.objects.filter(sweepable(now)).order_by("received_at")[:batch]


def sweep(*, batch: int = 500, now: datetime | None = None) -> int:
    """Re-enqueue up to `batch` stuck events, oldest first; returns how many."""
    now = now or timezone.now()
    ids = list(to_sweep(batch=batch, now=now).values_list("pk", flat=True))
    if not ids:
        return 0
    WebhookEvent.objects.filter(pk__in=ids).update(last_enqueued_at=now)
    for event_id in ids:
        enqueue(event_id)
    logger.info("sweeper re-enqueued %d events", len(ids))
    return len(ids)
