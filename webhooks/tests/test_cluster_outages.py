"""The end-state and isolation guarantees with a real `manage.py qcluster` against the test
database (SQLite or PostgreSQL, smaller numbers on SQLite): a topic whose upstream is down
does not stall the others, failing events reach dead on their own schedule, a handler past
the cluster's timeout ends dead, and SIGKILLs of the whole cluster at random moments leave
no event received or processing once the sweeper has run."""

from __future__ import annotations

import math
import random
import time

import pytest
from django.db import connection

from deadletters.models import DeadLetter
from webhooks import processing
from webhooks.models import EventStatus, TopicBreaker, WebhookEvent
from webhooks.tests.support import store_event
from webhooks.tests.test_worker import STARTUP_TIMEOUT, qcluster, wait_for
from webhooks.tests.worker_handlers import side_effect_count

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The bench measures the 2 s target (docs/benchmarks.md, `flood`); here the suite shares
# two cores with everything else, and django-q2's own cost per task (about 40 ms at a
# load of 8) sets the pace of the first pass over the flood, so the bound is looser. Before
# these guarantees, none of the healthy events was processed within minutes.
P95_LIMIT_SECONDS = 10.0
SCOPES = {"id": 1, "previous": ["read_orders"], "current": ["read_orders", "write_orders"]}


def _enqueued(topic: str, payload: dict[str, object]) -> int:
    pk = store_event(topic, payload).pk
    assert processing.enqueue(pk)
    return pk


def _p95(ids: list[int]) -> float:
    rows = WebhookEvent.objects.filter(pk__in=ids).values_list("received_at", "processed_at")
    latencies = sorted((done - got).total_seconds() for got, done in rows)
    return latencies[math.ceil(0.95 * len(latencies)) - 1]


def _flood(failing: int, healthy: int, spread: float, *, until_dead: bool = False, **env: str) -> tuple[list[int], list[int]]:
    """`failing` events of a topic whose handler always fails, then `healthy` deliveries of
    app/scopes_update over `spread` seconds, with a cluster of two workers; then wait until
    no failing event is in a worker's hands (`until_dead`: until every one is dead)."""
    canary = _enqueued("tests/side-effect", {"id": 0})
    with qcluster(Q_WORKERS="2", **env) as cluster:
        wait_for(lambda: WebhookEvent.objects.get(pk=canary).status == EventStatus.PROCESSED, STARTUP_TIMEOUT, cluster,
                 "the cluster to start")
        # As in production: the flood arrives while the cluster runs, then the others.
        flood = [_enqueued("tests/always-fails", {"id": i}) for i in range(failing)]
        ok = []
        for _ in range(healthy):
            ok.append(_enqueued("app/scopes_update", SCOPES))
            time.sleep(spread / healthy)
        wait_for(lambda: WebhookEvent.objects.filter(pk__in=ok, status=EventStatus.PROCESSED).count() == healthy,
                 60, cluster, "the healthy events")
        unfinished = [EventStatus.RECEIVED, EventStatus.PROCESSING] if until_dead else [EventStatus.PROCESSING]
        wait_for(lambda: not WebhookEvent.objects.filter(pk__in=flood, status__in=unfinished).exists(),
                 90, cluster, "the failing events")
        assert cluster.terminate() == 0
    return flood, ok


def test_it_keeps_other_topics_flowing_while_one_topics_upstream_is_down():
    big = connection.vendor == "postgresql"
    flood, ok = _flood(300 if big else 60, 20 if big else 10, 10.0 if big else 5.0)
    assert _p95(ok) < P95_LIMIT_SECONDS
    # The failing topic tripped its breaker: its events wait for the probe, attempts kept.
    assert TopicBreaker.objects.get(topic="tests/always-fails").state == "open"
    waiting = WebhookEvent.objects.filter(pk__in=flood, status=EventStatus.RECEIVED)
    assert set(waiting.values_list("waiting_for", flat=True)) <= {"topic:tests/always-fails"}
    assert WebhookEvent.objects.filter(pk__in=flood, status__in=[EventStatus.RECEIVED, EventStatus.DEAD]).count() == len(flood)


def test_it_lets_failing_events_reach_dead_on_their_own_schedule():
    flood, ok = _flood(
        30 if connection.vendor == "postgresql" else 20, 10, 5.0,
        until_dead=True, TOPIC_BREAKER_THRESHOLD="100000", WEBHOOK_RETRY_DELAYS="0.3,0.6,1.2,2.4",
    )
    assert _p95(ok) < P95_LIMIT_SECONDS
    assert set(WebhookEvent.objects.filter(pk__in=flood).values_list("status", flat=True)) == {EventStatus.DEAD}
    sample = WebhookEvent.objects.get(pk=flood[0])
    starts = list(sample.attempt_log.order_by("number").values_list("started_at", flat=True))
    assert len(starts) == 5
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap >= delay for gap, delay in zip(gaps, [0.3, 0.6, 1.2, 2.4], strict=True)), gaps


def test_it_ends_a_handler_past_the_cluster_timeout_dead():
    event = _enqueued("tests/slow", {"seconds": 30})
    with qcluster(Q_TIMEOUT="2", WEBHOOK_RETRY_DELAYS="0.2") as cluster:
        wait_for(lambda: WebhookEvent.objects.get(pk=event).status == EventStatus.DEAD, STARTUP_TIMEOUT + 30, cluster,
                 "the event to end dead")
        assert cluster.terminate() == 0
    stored = WebhookEvent.objects.get(pk=event)
    assert stored.attempts == 2 and side_effect_count(event) == 0
    assert set(stored.attempt_log.values_list("error_class", flat=True)) == {"django_q.exceptions.TimeoutException"}
    assert DeadLetter.objects.get(event_id=event).error_class == "django_q.exceptions.TimeoutException"


def test_it_leaves_no_event_unfinished_after_sigkills_at_random_moments():
    rng = random.Random(12)  # noqa: S311 - kill moments, not secrets
    count = 200 if connection.vendor == "postgresql" else 60
    ids = [_enqueued("tests/slow", {"seconds": 0.05}) for _ in range(count)]
    for _ in range(3):
        with qcluster(Q_WORKERS="2") as cluster:
            wait_for(lambda: WebhookEvent.objects.filter(pk__in=ids).exclude(status=EventStatus.RECEIVED).exists(),
                     STARTUP_TIMEOUT, cluster, "the cluster to start")
            time.sleep(rng.uniform(0.2, 2.0))
            cluster.kill()
    deadline = time.monotonic() + 120
    with qcluster(Q_WORKERS="2") as cluster:
        while time.monotonic() < deadline and WebhookEvent.objects.filter(pk__in=ids).pending().exists():
            processing.sweep()  # the schedule's job, run more often here
            time.sleep(1.0)
        assert cluster.terminate() == 0
    assert not WebhookEvent.objects.filter(pk__in=ids).pending().exists()
    for event in WebhookEvent.objects.filter(pk__in=ids):
        runs = side_effect_count(event.pk)
        assert runs == (1 if event.status == EventStatus.PROCESSED else 0), (event.pk, event.status, runs)
        if event.status == EventStatus.DEAD:
            assert event.attempt_log.filter(error_class="WorkerDied").count() == event.failures
