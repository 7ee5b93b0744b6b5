"""The pipeline's promise as a property: whatever a handler does on each attempt (returns,
raises an Exception, a PermanentError or a BaseException, fails with NUL, a lone
surrogate or 100,000 characters in its message, or its worker dies and the lease lapses),
with the sweeper run between rounds, every event ends processed or dead within its
budget, every attempt is recorded once with its number, and a forwarded event is POSTed
at most once per attempt its handler ran. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from webhooks import processing
from webhooks.models import AttemptOutcome, EventStatus, ForwardDestination, TopicRoute, WebhookEvent
from webhooks.tests import worker_handlers
from webhooks.tests.support import Endpoint, Reply, endpoint, store_event

EXAMPLES = int(os.environ.get("PIPELINE_PROPERTY_EXAMPLES", "60"))
DELAYS = [0.0, 0.0, 0.0]
BUDGET = 1 + len(DELAYS)
FORWARD_TOPIC = "products/update"
# "die": the worker is killed in the middle (the lease lapses, the sweeper takes it back).
STEPS = st.sampled_from([*worker_handlers.SCRIPTED_STEPS, "die"])
SCRIPT = st.lists(STEPS, min_size=1, max_size=BUDGET + 1)


@pytest.fixture(scope="module")
def destination() -> Iterator[Endpoint]:
    with endpoint(Reply(200)) as app:
        yield app


class _Rollback(Exception):
    pass


def _step(event: WebhookEvent, script: list[str]) -> str:
    return script[min(event.attempts, len(script) - 1)]


def _die(event_id: int) -> None:
    """What a SIGKILL leaves: claimed, handler work lost with its transaction, lease lapsed."""
    assert processing.claim(event_id) is not None
    WebhookEvent.objects.filter(pk=event_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def _run(scripts: list[list[str]], forward: list[str], app: Endpoint) -> None:
    ids = [store_event("tests/scripted", {"script": script}).pk for script in scripts]
    dest = ForwardDestination.objects.create(name="property", url=app.url)
    TopicRoute.objects.create(topic=FORWARD_TOPIC, destination=dest)
    forwarded = store_event(FORWARD_TOPIC, {"id": 1}).pk
    # The destination answers each POST in turn; a death's attempt sends nothing.
    replies = [Reply(200) if step == "ok" else Reply(500, body=b'{"e": "\x00\xff"}') for step in forward if step != "die"]
    app.seen.clear()
    app.script(*(replies or [Reply(200)]))
    scripts_by_id = dict(zip(ids, scripts, strict=True)) | {forwarded: forward}
    for _ in range(3 * BUDGET):
        for event in WebhookEvent.objects.filter(pk__in=scripts_by_id, status=EventStatus.RECEIVED):
            step = _step(event, scripts_by_id[event.pk])
            if step == "die":
                _die(event.pk)
                continue
            try:
                processing.process_event(event.pk)
            except BaseException as exc:  # noqa: BLE001 - the re-raised shutdowns, recorded first
                assert not isinstance(exc, Exception), exc
        processing.sweep()
    for event in WebhookEvent.objects.filter(pk__in=scripts_by_id):
        _check(event, scripts_by_id[event.pk])
    posts = len(app.seen)
    handler_runs = WebhookEvent.objects.get(pk=forwarded).attempt_log.exclude(error_class="WorkerDied").count()
    assert posts == handler_runs <= BUDGET


def _check(event: WebhookEvent, script: list[str]) -> None:
    assert event.status in (EventStatus.PROCESSED, EventStatus.DEAD), (event.status, script)
    attempts = list(event.attempt_log.order_by("number"))
    assert [a.number for a in attempts] == list(range(1, event.attempts + 1))
    assert event.failures == sum(a.outcome == AttemptOutcome.FAILED for a in attempts) <= BUDGET
    if event.status == EventStatus.PROCESSED:
        assert attempts[-1].outcome == AttemptOutcome.OK
        assert sum(a.outcome == AttemptOutcome.OK for a in attempts) == 1
    else:
        assert event.failures == BUDGET or attempts[-1].error_class == "webhooks.errors.PermanentError"
    for attempt in attempts:
        assert "\x00" not in attempt.error_message and len(attempt.error_message) <= 50_000


@pytest.mark.django_db
@examples(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scripts=st.lists(SCRIPT, min_size=1, max_size=3), forward=st.lists(st.sampled_from(["ok", "fail", "die"]), min_size=1, max_size=BUDGET + 1))
def test_it_ends_every_event_within_its_budget_whatever_the_handler_does(scripts, forward, destination, settings):
    settings.WEBHOOK_RETRY_DELAYS = DELAYS
    settings.TOPIC_BREAKER_THRESHOLD = 10_000  # the breaker has tests of its own
    settings.SHOPIFY_API_SECRET = "property-secret"
    # Each example in a transaction of its own, rolled back: the next one starts empty.
    try:
        with transaction.atomic():
            _run(scripts, forward, destination)
            raise _Rollback
    except _Rollback:
        pass
