"""The worker's task: claim an event, run ONE attempt, settle it, return.

A retry never holds a worker: a failed attempt is recorded and the event released with
its next attempt time (WEBHOOK_RETRY_DELAYS), its next task written for that time
(queue.enqueue_at); the worker takes the next due task at once. The budget is
1 + len(WEBHOOK_RETRY_DELAYS) failed attempts (WebhookEvent.failures, worker deaths
included); the last failure, or a PermanentError, marks the event dead (signal
`event_dead`). A topic whose handler keeps failing trips its TopicBreaker: its events wait,
without burning attempts, while the other topics flow.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from webhooks import handlers, logcontext
from webhooks.errors import RetryLater
from webhooks.indexer import index_claimed_event
from webhooks.models import AttemptOutcome, BreakerState, EventStatus, TopicBreaker, WebhookEvent
from webhooks.processing import queue
from webhooks.processing.attempt import AttemptResult, LostClaim, die, ignore, run_attempt
from webhooks.processing.claims import claim_where, mine
from webhooks.signals import breaker_released

logger = logging.getLogger("webhooks.processing")

# What process_event returns besides a final status.
RETRYING = "retrying"  # failed, next attempt scheduled
DEFERRED = "deferred"  # waiting for a breaker or a paused destination, no attempt burnt
SKIPPED = "skipped"  # not claimed: someone else has it, or nothing is due


def budget() -> int:
    """Failed attempts an event may have before it is dead."""
    return 1 + len(settings.WEBHOOK_RETRY_DELAYS)


def wait(event: WebhookEvent, due: datetime, waiting_for: str = "", *, task: bool = True) -> bool:
    """Release the event, still claimed by its `lease_expires_at`, until `due`, and write
    its next task for then (`task=False`: someone else wakes it, see hold_topic). False
    (nothing written) when the claim was lost."""
    released = mine(event, event.lease_expires_at).update(  # type: ignore[arg-type]
        status=EventStatus.RECEIVED, lease_expires_at=None, next_attempt_at=due,
        # When it is handed out (or would be): the sweeper leaves it alone until a lease later.
        last_enqueued_at=due, waiting_for=waiting_for,
    )
    if released != 1:
        return False
    if task:
        queue.enqueue_at(event.pk, due)
    event.status = EventStatus.RECEIVED
    return True


def hold_topic(breaker: TopicBreaker) -> int:
    """The topic's breaker just opened: all its waiting events wait for the probe, in one
    UPDATE, and ONE task is written, for the probe at the end of the cool-down. A flood's
    queued tasks then cost one claim that changes nothing each, and the flood does not
    come back as a herd of tasks every cool-down: a successful probe closes the breaker,
    which wakes them all (CircuitBreaker.record_success); a failed one holds them again."""
    until = breaker.reopen_at()
    with transaction.atomic():
        # Events that wait for something else (a paused destination) keep their own wake-up:
        # overwriting it would leave them asleep when that destination resumes.
        topic = WebhookEvent.objects.filter(
            Q(waiting_for="") | Q(waiting_for=breaker.waiting_key), topic=breaker.topic, status=EventStatus.RECEIVED
        )
        held = topic.update(next_attempt_at=until, last_enqueued_at=until, waiting_for=breaker.waiting_key)
        probe = topic.order_by("received_at").values_list("pk", flat=True).first()
        if probe is not None:
            queue.enqueue_at(probe, until)
    logger.warning("topic %s: breaker %s, %d events wait for the probe at %s", breaker.topic, breaker.state, held, until.isoformat())
    return held


def settle(event: WebhookEvent, result: AttemptResult) -> None:
    """After a failed or deferred attempt, in the transaction that records it: wait for
    the breaker, wait for the back-off, or die."""
    if result.outcome == AttemptOutcome.DEFERRED:
        wait(event, result.until or timezone.now(), result.waiting_for)
    elif result.permanent or event.failures >= budget():
        die(event, result)
    else:
        delay = settings.WEBHOOK_RETRY_DELAYS[event.failures - 1]
        wait(event, timezone.now() + timedelta(seconds=delay))


def _admit(event: WebhookEvent) -> tuple[TopicBreaker | None, bool]:
    """The topic's breaker, after asking it to let this event through (RetryLater if not),
    and whether this event holds its half-open probe."""
    breaker = TopicBreaker.objects.filter(topic=event.topic).first()
    if breaker is None:
        return None, False
    return breaker, breaker.admit(refresh=False)


def _tell_breaker(event: WebhookEvent, breaker: TopicBreaker | None, result: AttemptResult) -> bool:
    """Count the outcome on the topic's breaker; True when the breaker was told (a success,
    or a failure that says something about the upstream)."""
    # Bookkeeping after the outcome is committed: a failure here costs no event anything.
    try:
        if result.ok and breaker is not None and (breaker.state != BreakerState.CLOSED or breaker.consecutive_failures):
            breaker.record_success()
            return True
        if result.outcome == AttemptOutcome.FAILED and not result.permanent:
            breaker = breaker or TopicBreaker.objects.get_or_create(topic=event.topic)[0]
            # The class only: the row is shared by every shop and no redaction scrubs it.
            if breaker.record_failure(result.error_class):
                hold_topic(breaker)
            return True
    except Exception:  # noqa: BLE001
        logger.warning("could not update the breaker of topic %s", event.topic, exc_info=True)
    return False


def _pass_probe_on(breaker: TopicBreaker) -> None:
    """The probe ended without a verdict (a PermanentError, a deferral, a lost claim, a
    shutdown): the breaker stays half-open, and its waiting events have no task. Hold the
    topic for the next probe at reopen_at(), as when it opened, so that someone reports."""
    try:
        breaker.refresh_from_db()
        if breaker.state == BreakerState.HALF_OPEN:
            hold_topic(breaker)
    except Exception:  # noqa: BLE001
        logger.warning("could not hand on the probe of topic %s", breaker.topic, exc_info=True)


@logcontext.scoped
def process_delivery(provider: str, webhook_id: str) -> str:
    """The intake's task: process the event stored for this delivery. Claimed and read by
    the delivery index, so the task costs no lookup of the row's id first."""
    return _process({"provider": provider, "webhook_id": webhook_id}, trigger="worker")


@logcontext.scoped
def process_event(event_id: int, *, trigger: str = "worker") -> str:
    """Claim the event and run one attempt; returns its status afterwards (processed,
    ignored, dead), RETRYING, DEFERRED, or SKIPPED when it could not be claimed."""
    return _process({"pk": event_id}, trigger=trigger)


def _process(where: dict[str, Any], *, trigger: str) -> str:
    lease = claim_where(where, (EventStatus.RECEIVED,))
    if lease is None:
        return SKIPPED
    event = WebhookEvent.objects.get(**where)
    logcontext.bind(event_pk=event.pk, webhook_id=event.webhook_id)
    if event.subjects_indexed_at is None:  # once per event, not once per attempt
        event = index_claimed_event(event)  # re-read under its lock: see there
    func = handlers.resolve(event)
    if func is None:
        return EventStatus.IGNORED if ignore(event, trigger, lease) else SKIPPED
    try:
        breaker, probing = _admit(event)
    except RetryLater as exc:
        # Deferred before any attempt: nothing ran, nothing is counted. No task of its own:
        # the breaker's probe wakes the topic (hold_topic), the sweeper if all else fails.
        return DEFERRED if wait(event, exc.until, exc.waiting_for, task=False) else SKIPPED
    told = False
    try:
        result = run_attempt(event, func, lease, trigger, settle=settle)
        told = _tell_breaker(event, breaker, result)
    except LostClaim:
        logger.warning("event %s: claim lost to another worker, stopping", event.pk)
        return SKIPPED
    finally:
        if probing and not told and breaker is not None:
            _pass_probe_on(breaker)
    if result.ok:
        return EventStatus.PROCESSED
    if result.outcome == AttemptOutcome.DEFERRED:
        return DEFERRED
    return EventStatus.DEAD if event.status == EventStatus.DEAD else RETRYING


def process_until_settled(event_id: int, *, trigger: str = "worker") -> str:
    """Every attempt of one event in this process, its back-off waited out here: for the
    demo seed and synchronous tests. A worker never calls it (it runs one attempt)."""
    while True:
        outcome = process_event(event_id, trigger=trigger)
        if outcome != RETRYING:
            return outcome
        due = WebhookEvent.objects.values_list("next_attempt_at", flat=True).get(pk=event_id)
        if due is not None:
            time.sleep(max(0.0, (due - timezone.now()).total_seconds()))


def wake_waiting(waiting_for: str) -> int:
    """Make the events that wait for this breaker (CircuitBreaker.waiting_key) due now and
    hand them to the workers once the caller's transaction commits. Whatever their
    next_attempt_at: hold_topic set it to the probe's time, which has passed by the time
    the probe succeeds, and those events have no task of their own."""
    now = timezone.now()
    waiting = WebhookEvent.objects.filter(status=EventStatus.RECEIVED, waiting_for=waiting_for)
    ids = list(waiting.values_list("pk", flat=True))
    WebhookEvent.objects.filter(pk__in=ids, status=EventStatus.RECEIVED).update(
        next_attempt_at=now, last_enqueued_at=now, waiting_for=""
    )
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: queue.enqueue(event_id))  # type: ignore[misc]
    return len(ids)


@receiver(breaker_released, dispatch_uid="webhooks.processing.wake_waiting")
def _breaker_released(sender: type, waiting_key: str, **kwargs: Any) -> int:
    """A breaker closed or was resumed (CircuitBreaker.release_waiting): its events go now."""
    return wake_waiting(waiting_key)
