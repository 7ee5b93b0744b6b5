"""One attempt of a handler: run it, capture whatever it raised, record the outcome under
the claim, and let the caller decide the event's next state in that same transaction.

Whatever the handler does ends as a recorded attempt: a return, an Exception, or a
BaseException (SystemExit, KeyboardInterrupt, CancelledError, django-q2's timeout), which
is re-raised only after its attempt is recorded, so that a shutdown still shuts down. If
recording the outcome itself fails, the event is dead-lettered with that failure.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webhooks import handlers, textsafe
from webhooks.errors import PermanentError, RetryLater
from webhooks.models import AttemptOutcome, EventAttempt, EventStatus, Shop, WebhookEvent
from webhooks.processing.claims import mark_processed, mine
from webhooks.signals import event_dead

logger = logging.getLogger("webhooks.processing")


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
    waiting_for: str = ""
    number: int = 0
    started_at: datetime = field(default_factory=timezone.now)

    @property
    def ok(self) -> bool:
        return self.outcome == AttemptOutcome.OK

    @property
    def one_line_error(self) -> str:
        return textsafe.for_field(WebhookEvent, "last_error", f"{self.error_class}: {self.error_message}".strip(": ")[:1000])


class LostClaim(Exception):
    """Another worker took the event over (our lease lapsed): roll our work back."""


def _text(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises is still recorded
        return f"<{type(value).__name__} that cannot be shown as text>"


def capture(result: AttemptResult, exc: BaseException) -> None:
    """Fill `result` from what a handler raised: one capture for real attempts and dry runs.
    The texts are made storable here (textsafe), so the attempt row and the dead letter
    both get clean evidence."""
    if isinstance(exc, RetryLater):
        result.outcome, result.until, result.waiting_for = AttemptOutcome.DEFERRED, exc.until, exc.waiting_for
        result.error_class, result.error_message = type(exc).__name__, textsafe.clean(exc.reason)
        return
    result.outcome = AttemptOutcome.FAILED
    result.error_class = textsafe.clean(f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins."))
    result.error_message = textsafe.clean(_text(exc))
    # The end of a traceback says the most: keep the tail when it is too long.
    result.traceback = textsafe.clean("".join(tb.format_exception(exc))[-textsafe.TEXT_LIMIT :])
    result.permanent = isinstance(exc, PermanentError)


def shop_for(event: WebhookEvent, known: dict[str, Shop] | None = None) -> Shop | None:
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


def attempt_row(event: WebhookEvent, result: AttemptResult, trigger: str) -> EventAttempt:
    def safe(name: str, value: str) -> str:
        return textsafe.for_field(EventAttempt, name, value)

    return EventAttempt(
        event=event, number=result.number, trigger=safe("trigger", trigger), started_at=result.started_at,
        duration_ms=result.duration_ms, outcome=result.outcome, error_class=safe("error_class", result.error_class),
        error_message=safe("error_message", result.error_message), traceback=safe("traceback", result.traceback),
        summary=safe("summary", result.summary),
    )


class Deferred:
    """The writes a bulk replay puts off: the attempt rows, and the outcome of each
    successful attempt, written with one statement each. Only for a caller that holds its
    events' rows locked under its claim for the whole transaction (`claims.lock_held`), so
    that an outcome written later cannot find the claim gone; it flushes before the
    transaction ends."""

    def __init__(self, lease: datetime) -> None:
        self.lease = lease
        self.rows: list[EventAttempt] = []
        self.processed: list[WebhookEvent] = []
        self.shops: set[tuple[str, str]] = set()  # whose outcomes are pending

    def add(self, event: WebhookEvent, row: EventAttempt, *, processed: bool) -> None:
        self.rows.append(row)
        if processed:
            self.processed.append(event)
            self.shops.add((event.provider, event.shop_domain))

    def before(self, event: WebhookEvent) -> None:
        """Before `event`'s handler runs: the outcomes pending for its shop are written, so
        that it sees the shop's earlier events processed, as one by one. (The attempt rows
        wait for the end, as they always did in a bulk replay.)"""
        if (event.provider, event.shop_domain) in self.shops:
            self.write_outcomes()

    def write_outcomes(self) -> None:
        if mark_processed(self.processed, self.lease) != len(self.processed):
            raise LostClaim(f"events {sorted(e.pk for e in self.processed)} are no longer all claimed")
        self.processed, self.shops = [], set()

    def flush(self) -> None:
        self.write_outcomes()
        EventAttempt.objects.bulk_create(self.rows)
        self.rows = []


# The event's next state after a failed or deferred attempt (retry, wait, dead), written
# by the caller inside the transaction that records the attempt.
Settle = Callable[[WebhookEvent, AttemptResult], None]


def run_attempt(
    event: WebhookEvent, func: handlers.HandlerFunc, lease: datetime, trigger: str, *,
    settle: Settle, shops: dict[str, Shop] | None = None, defer: Deferred | None = None, destination: Any = None,
) -> AttemptResult:
    """Run the handler once. On success its work, the processed status and the attempt row
    commit in one transaction; on failure the handler's work is rolled back and the attempt
    row, the event's failure count and its next state (`settle`) are written afterwards, so
    the evidence survives the rollback. Inside a caller's transaction (a bulk replay) the
    transaction here is a savepoint: a failure rolls back this handler's work only, and
    with `defer` the attempt row and a success's outcome are left to the caller's flush."""
    number = event.attempts + 1
    result = AttemptResult(outcome=AttemptOutcome.OK, number=number)
    shop = shop_for(event, shops)
    # The event is linked to its shop by the UPDATE that records the outcome, whichever it is.
    link: dict[str, Any] = {"shop": shop} if shop is not None and event.shop_id != shop.pk else {}
    ctx = handlers.HandlerContext(event=event, shop=shop, attempt=number, destination=destination)
    t0 = time.perf_counter()
    raised: BaseException | None = None
    try:
        # A non-atomic handler (forwarding) does its outside work first, in autocommit;
        # the outcome is then recorded in a transaction of its own.
        summary = None if handlers.is_atomic(func) else func(ctx)
        with transaction.atomic():
            if handlers.is_atomic(func):
                summary = func(ctx)
            result.duration_ms = (time.perf_counter() - t0) * 1000
            result.summary = textsafe.clean(summary or "")
            if defer is None:
                updated = mine(event, lease).update(
                    status=EventStatus.PROCESSED, attempts=number, processed_at=timezone.now(),
                    processing_ms=result.duration_ms, lease_expires_at=None, last_error="", **link,
                )
                if updated != 1:
                    raise LostClaim(f"event {event.pk} was claimed by another worker")
                attempt_row(event, result, trigger).save()
        if defer is not None:
            # What the UPDATE above writes, kept on the event for the caller's flush (the
            # shop is linked below, whatever the outcome).
            event.attempts, event.processed_at, event.processing_ms = number, timezone.now(), result.duration_ms
            defer.add(event, attempt_row(event, result, trigger), processed=True)
    except LostClaim:
        raise
    except BaseException as exc:  # noqa: BLE001 - every outcome is recorded; BaseException re-raised below
        capture(result, exc)
        raised = exc
    if link:
        event.shop = shop
    if result.ok:
        event.attempts, event.status = number, EventStatus.PROCESSED
        return result
    result.duration_ms = (time.perf_counter() - t0) * 1000
    try:
        record_failure(event, lease, result, trigger, settle=settle, link=link, defer=defer)
    except LostClaim:
        if raised is not None and not isinstance(raised, Exception):
            raise raised from None
        raise
    except Exception as exc:  # noqa: BLE001 - the outcome could not be written: dead-letter it
        dead_letter_unrecorded(event, lease, result, exc, trigger)
    if raised is not None and not isinstance(raised, Exception):
        raise raised  # a shutdown or a timeout: recorded, now let it do its work
    return result


def record_failure(
    event: WebhookEvent, lease: datetime, result: AttemptResult, trigger: str, *,
    settle: Settle, link: dict[str, Any] | None = None, defer: Deferred | None = None,
) -> None:
    """Record a failed (or deferred) attempt under the claim and settle the event. The
    UPDATE locks the event row and proves it is still ours, so the attempt row is never
    written for an event that retention deleted meanwhile (EventAttempt.event has no
    database constraint to refuse it)."""
    counts = int(result.outcome == AttemptOutcome.FAILED)
    with transaction.atomic():
        updated = mine(event, lease).update(
            attempts=result.number, failures=F("failures") + counts, last_error=result.one_line_error, **(link or {})
        )
        if updated != 1:
            raise LostClaim(f"event {event.pk} was claimed by another worker or deleted")
        event.attempts, event.failures = result.number, event.failures + counts
        if defer is None:
            attempt_row(event, result, trigger).save()
        settle(event, result)
    if defer is not None:
        defer.add(event, attempt_row(event, result, trigger), processed=False)


def die(event: WebhookEvent, result: AttemptResult, **extra: Any) -> None:
    """Mark the event dead and announce it (deadletters listens), in the caller's transaction."""
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=EventStatus.DEAD, lease_expires_at=None, processed_at=timezone.now(), **extra
    )
    event.status = EventStatus.DEAD
    event_dead.send(sender=WebhookEvent, event=event, result=result)
    # The class only: a message can carry a customer's personal data, and log lines are
    # beyond the reach of a redaction (the database copy is scrubbed on request).
    logger.warning("event %s dead after %s attempts: %s", event.pk, event.attempts, result.error_class)


def dead_letter_unrecorded(
    event: WebhookEvent, lease: datetime, result: AttemptResult, exc: Exception, trigger: str = "worker"
) -> None:
    """Recording an attempt's outcome failed (a database error, a listener that raised):
    rather than leave the event processing, mark it dead with that failure as evidence."""
    failure = AttemptResult(outcome=AttemptOutcome.FAILED, number=result.number, started_at=result.started_at)
    capture(failure, exc)
    failure.error_message = textsafe.clean(
        f"recording the outcome of attempt {result.number} ({result.error_class or result.outcome}) failed: "
        f"{failure.error_message}"
    )
    failure.duration_ms, failure.permanent = result.duration_ms, True
    logger.error("event %s: recording the outcome failed (%s); dead-lettering it", event.pk, failure.error_class)
    with transaction.atomic():
        if mine(event, lease).update(attempts=result.number, failures=F("failures") + 1, last_error=failure.one_line_error) != 1:
            return
        event.attempts = result.number
        try:
            with transaction.atomic():
                attempt_row(event, failure, trigger).save()
        except Exception:  # noqa: BLE001 - the dead status below is what must be written
            logger.exception("event %s: could not write the attempt row either", event.pk)
        try:
            with transaction.atomic():
                die(event, failure)
        except Exception:  # noqa: BLE001 - a listener failed too: dead without a dead letter, logged
            logger.exception("event %s: the dead-letter listeners failed; marking it dead anyway", event.pk)
            WebhookEvent.objects.filter(pk=event.pk).update(
                status=EventStatus.DEAD, lease_expires_at=None, processed_at=timezone.now()
            )
            event.status = EventStatus.DEAD


def ignore(event: WebhookEvent, trigger: str, lease: datetime) -> bool:
    """Record "no handler" under the claim; False when the claim was lost (nothing written)."""
    with transaction.atomic():
        number = event.attempts + 1
        updated = mine(event, lease).update(
            status=EventStatus.IGNORED, lease_expires_at=None, processed_at=timezone.now(), attempts=number
        )
        if updated != 1:
            return False
        event.status, event.attempts = EventStatus.IGNORED, number
        result = AttemptResult(outcome=AttemptOutcome.IGNORED, number=number, summary="no handler for this topic")
        attempt_row(event, result, trigger).save()
    return True
