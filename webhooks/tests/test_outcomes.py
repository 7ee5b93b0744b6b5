"""An end state for every event, by construction: whatever a handler raises is recorded
as an attempt first; a shutdown is re-raised after; an outcome that cannot be recorded
dead-letters the event; a destination's hostile answer is stored safely; a failing topic
trips its own breaker while others flow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_q.exceptions import TimeoutException
from django_q.models import OrmQ

from deadletters.models import DeadLetter
from webhooks import processing
from webhooks.breaker import BreakerState
from webhooks.logcontext import WebhookContextFilter
from webhooks.models import EventStatus, ForwardDestination, TopicBreaker, TopicRoute, WebhookEvent
from webhooks.signals import event_dead
from webhooks.tests import worker_handlers  # noqa: F401  (registers the tests/ handlers)
from webhooks.tests.support import Reply, endpoint, store_event


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("step", "raised", "error_class"),
    [
        ("system-exit", SystemExit, "SystemExit"),
        ("keyboard-interrupt", KeyboardInterrupt, "KeyboardInterrupt"),
        ("cancelled", asyncio.CancelledError, "asyncio.exceptions.CancelledError"),
        ("timeout", TimeoutException, "django_q.exceptions.TimeoutException"),
    ],
)
def test_it_records_a_base_exception_as_an_attempt_then_reraises_it(settings, step, raised, error_class):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    event = store_event("tests/scripted", {"script": [step]})
    with pytest.raises(raised):
        processing.process_event(event.pk)
    event.refresh_from_db()
    # Recorded and released for its retry before the shutdown went on.
    assert (event.status, event.attempts, event.failures, event.lease_expires_at) == (EventStatus.RECEIVED, 1, 1, None)
    attempt = event.attempt_log.get()
    assert (attempt.outcome, attempt.error_class) == ("failed", error_class)
    assert "Traceback (most recent call last)" in attempt.traceback
    with pytest.raises(raised):
        processing.process_event(event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.DEAD
    assert DeadLetter.objects.get(event=event).error_class == error_class


@pytest.mark.django_db
@pytest.mark.parametrize("step", ["nul", "surrogate", "huge"])
def test_it_stores_any_error_text_a_handler_raises(settings, step):
    settings.WEBHOOK_RETRY_DELAYS = []
    event = store_event("tests/scripted", {"script": [step]})
    assert processing.process_event(event.pk) == EventStatus.DEAD
    attempt = WebhookEvent.objects.get(pk=event.pk).attempt_log.get()
    assert "\x00" not in attempt.error_message and len(attempt.error_message) <= 50_000
    assert "\x00" not in DeadLetter.objects.get(event=event).error_message


@pytest.fixture
def broken_listener() -> Iterator[None]:
    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("the dead-letter store is unavailable")

    event_dead.connect(refuse, dispatch_uid="tests.broken_listener")
    yield
    event_dead.disconnect(dispatch_uid="tests.broken_listener")


@pytest.mark.django_db
def test_it_ends_an_event_dead_when_its_outcome_cannot_be_recorded(settings, broken_listener):
    settings.WEBHOOK_RETRY_DELAYS = []
    event = store_event("tests/scripted", {"script": ["exception"]})
    assert processing.process_event(event.pk) == EventStatus.DEAD
    event.refresh_from_db()
    assert (event.status, event.lease_expires_at) == (EventStatus.DEAD, None)
    assert "recording the outcome of attempt 1" in event.last_error
    assert "the dead-letter store is unavailable" in event.last_error
    assert processing.sweep() == 0  # nothing left for the sweeper


@pytest.mark.django_db
def test_it_posts_once_per_attempt_and_stores_a_nul_answer(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0, 0.0]
    settings.SHOPIFY_API_SECRET = "test-secret"
    with endpoint(Reply(500, body=b'{"error": "bad \x00 byte"}')) as app:
        dest = ForwardDestination.objects.create(name="app", url=app.url)
        TopicRoute.objects.create(topic="products/update", destination=dest)
        event = store_event("products/update", {"id": 1})
        assert processing.process_until_settled(event.pk) == EventStatus.DEAD
        assert processing.sweep() == 0
    assert len(app.seen) == 3  # the budget: one POST per attempt, never again per sweep
    event.refresh_from_db()
    assert event.attempts == 3 and "\ufffd" in event.attempt_log.last().error_message


@pytest.mark.django_db
def test_it_opens_a_topic_breaker_and_defers_its_events_while_others_flow(settings, admin_client):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    settings.TOPIC_BREAKER_THRESHOLD = 3
    settings.TOPIC_BREAKER_COOLDOWN_SECONDS = 60
    failing = [store_event("tests/scripted", {"script": ["exception"]}) for _ in range(5)]
    for event in failing[:3]:
        assert processing.process_event(event.pk) == processing.RETRYING
    breaker = TopicBreaker.objects.get(topic="tests/scripted")
    assert (breaker.state, breaker.consecutive_failures) == (BreakerState.OPEN, 3)
    assert breaker.last_error == "RuntimeError"  # the class only: the row is shared by every shop
    # The whole topic waits for the probe, without burning attempts: one UPDATE, and one
    # task written for the probe at the end of the cool-down.
    until = breaker.reopen_at()
    waiting = WebhookEvent.objects.get(pk=failing[4].pk)
    assert (waiting.attempts, waiting.waiting_for, waiting.next_attempt_at) == (0, "topic:tests/scripted", until)
    assert OrmQ.objects.filter(lock=until).count() == 1
    for event in failing:
        assert processing.process_event(event.pk) == processing.SKIPPED  # queued tasks cost one claim
    late = store_event("tests/scripted", {"script": ["exception"]})
    assert processing.process_event(late.pk) == processing.DEFERRED
    late.refresh_from_db()
    assert (late.attempts, late.waiting_for, late.next_attempt_at) == (0, "topic:tests/scripted", until)
    assert b"topic:tests/scripted" in admin_client.get(f"/admin/webhooks/webhookevent/{late.pk}/change/").content
    # Another topic is not affected.
    healthy = store_event("tests/side-effect", {"id": 1})
    assert processing.process_event(healthy.pk) == EventStatus.PROCESSED
    # Staff see it in the admin and can pause it, then resume: the waiting events run now.
    page = admin_client.get("/admin/webhooks/topicbreaker/")
    assert page.status_code == 200 and b"tests/scripted" in page.content
    url = "/admin/webhooks/topicbreaker/"
    # Pausing asks first, with a note: the first post only shows the confirmation.
    admin_client.post(url, {"action": "pause_breakers", "_selected_action": [breaker.pk]})
    assert not TopicBreaker.objects.get(pk=breaker.pk).paused
    admin_client.post(url, {"action": "pause_breakers", "_selected_action": [breaker.pk], "post": "yes",
                            "note": "upstream down, waiting for its fix"})
    assert TopicBreaker.objects.get(pk=breaker.pk).paused
    TopicBreaker.objects.filter(pk=breaker.pk).update(state=BreakerState.CLOSED, consecutive_failures=0)
    admin_client.post(url, {"action": "resume_breakers", "_selected_action": [breaker.pk]})
    assert not TopicBreaker.objects.get(pk=breaker.pk).paused
    assert WebhookEvent.objects.get(pk=failing[4].pk).next_attempt_at <= timezone.now()
    assert processing.process_event(failing[4].pk) == processing.RETRYING  # an attempt again


@pytest.mark.django_db
def test_it_wakes_a_held_topic_when_its_probe_succeeds(settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_DELAYS = [0.0, 0.0]
    settings.TOPIC_BREAKER_THRESHOLD = 2
    # The upstream fails twice, then is back: the third attempt of any event succeeds.
    events = [store_event("tests/scripted", {"script": ["exception", "exception", "ok"]}) for _ in range(4)]
    assert processing.process_event(events[0].pk) == processing.RETRYING
    assert processing.process_event(events[1].pk) == processing.RETRYING
    breaker = TopicBreaker.objects.get(topic="tests/scripted")
    assert breaker.state == BreakerState.OPEN
    # The cool-down is over: event 0 takes the probe (its second attempt, which fails).
    TopicBreaker.objects.filter(pk=breaker.pk).update(opened_at=timezone.now() - timedelta(hours=1))
    WebhookEvent.objects.filter(pk=events[0].pk).update(next_attempt_at=timezone.now())
    assert processing.process_event(events[0].pk) == processing.RETRYING  # the probe failed: held again
    assert TopicBreaker.objects.get(pk=breaker.pk).state == BreakerState.OPEN
    # The cool-down passes as it would: the breaker and every held event (next_attempt_at
    # = the probe's time) are an hour older, so the held events are all due by now.
    hour_ago = timezone.now() - timedelta(hours=1)
    TopicBreaker.objects.filter(pk=breaker.pk).update(opened_at=hour_ago)
    held = WebhookEvent.objects.filter(waiting_for=breaker.waiting_key)
    assert held.count() == 4
    held.update(next_attempt_at=hour_ago, last_enqueued_at=hour_ago)
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert processing.process_event(events[0].pk) == EventStatus.PROCESSED  # the probe succeeded
    assert TopicBreaker.objects.get(pk=breaker.pk).state == BreakerState.CLOSED
    # Every other held event is handed to the workers at once, with no attempt burnt.
    woken = {q.task["args"][0] for q in OrmQ.objects.filter(lock__lte=timezone.now())}
    assert woken == {e.pk for e in events[1:]}
    assert list(WebhookEvent.objects.filter(pk__in=woken).values_list("waiting_for", flat=True)) == [""] * 3


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "raised"), [("permanent", None), ("system-exit", SystemExit)])
def test_it_hands_on_a_probe_that_ends_without_a_verdict(settings, step, raised):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    settings.TOPIC_BREAKER_THRESHOLD = 2
    held = [store_event("tests/scripted", {"script": ["exception"]}) for _ in range(2)]
    for event in held:
        assert processing.process_event(event.pk) == processing.RETRYING
    breaker = TopicBreaker.objects.get(topic="tests/scripted")
    TopicBreaker.objects.filter(pk=breaker.pk).update(opened_at=timezone.now() - timedelta(hours=1))
    # The probe goes to an event whose handler ends in a way that says nothing of the upstream.
    probe = store_event("tests/scripted", {"script": [step]})
    OrmQ.objects.all().delete()
    if raised is None:
        processing.process_event(probe.pk)
    else:
        with pytest.raises(raised):
            processing.process_event(probe.pk)
    breaker.refresh_from_db()
    assert breaker.state == BreakerState.HALF_OPEN
    # Someone takes the next probe when its cool-down ends: the oldest held event has a task then.
    tasks = [(q.task["args"][0], q.lock) for q in OrmQ.objects.all()]
    assert (held[0].pk, breaker.reopen_at()) in tasks
    assert WebhookEvent.objects.get(pk=held[0].pk).next_attempt_at == breaker.reopen_at()


@pytest.mark.django_db
def test_it_closes_a_topic_breaker_when_its_probe_succeeds(settings):
    settings.TOPIC_BREAKER_THRESHOLD = 1
    TopicBreaker.objects.create(
        topic="tests/side-effect", state=BreakerState.OPEN, consecutive_failures=1,
        opened_at=timezone.now() - timedelta(seconds=settings.TOPIC_BREAKER_COOLDOWN_SECONDS + 1),
    )
    event = store_event("tests/side-effect", {"id": 2})
    assert processing.process_event(event.pk) == EventStatus.PROCESSED
    breaker = TopicBreaker.objects.get(topic="tests/side-effect")
    assert (breaker.state, breaker.consecutive_failures) == (BreakerState.CLOSED, 0)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(WebhookContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.django_db
def test_it_names_the_event_on_every_line_of_the_intake_task(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    event = store_event("tests/scripted", {"script": ["exception"]})
    capture, logger = _Records(), logging.getLogger("webhooks")
    logger.addHandler(capture)
    try:
        assert processing.process_delivery("shopify", event.webhook_id) == processing.RETRYING
        processing.process_delivery("shopify", event.webhook_id)
    finally:
        logger.removeHandler(capture)
    assert capture.records, "processing logged nothing"
    assert {(r.event_pk, r.webhook_id) for r in capture.records} == {(event.pk, event.webhook_id)}  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_holding_a_topic_leaves_events_that_wait_for_a_paused_destination_to_it():
    """A topic's breaker opening holds the topic's waiting events for its probe, but not
    one that waits for a paused destination: that one still wakes when the destination
    resumes, not only after the topic's probe."""
    destination = ForwardDestination.objects.create(name="app", url="http://127.0.0.1:9/", paused=True)
    later = timezone.now() + timedelta(days=1)
    behind_pause = store_event("tests/scripted", {"script": ["ok"]})
    WebhookEvent.objects.filter(pk=behind_pause.pk).update(
        waiting_for=destination.waiting_key, next_attempt_at=later, last_enqueued_at=later)
    plain = store_event("tests/scripted", {"script": ["ok"]})
    breaker = TopicBreaker.objects.create(topic="tests/scripted", state=BreakerState.OPEN, opened_at=timezone.now())

    assert processing.worker.hold_topic(breaker) == 1

    assert WebhookEvent.objects.get(pk=plain.pk).waiting_for == breaker.waiting_key
    kept = WebhookEvent.objects.get(pk=behind_pause.pk)
    assert (kept.waiting_for, kept.next_attempt_at) == (destination.waiting_key, later)
    destination.resume(None)
    assert WebhookEvent.objects.get(pk=behind_pause.pk).waiting_for == ""
