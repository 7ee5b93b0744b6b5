"""A retry reaches the broker when it is due, not before, with Redis too (which has no
delayed delivery: a timer in the worker process pushes it). Uses the shared Redis on
127.0.0.1:6379, database 12 (this branch's own), a list of its own per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from conftest import IN_CI
from webhooks import processing
from webhooks.models import WebhookEvent
from webhooks.processing import queue
from webhooks.tests import worker_handlers  # noqa: F401  (registers the tests/ handlers)
from webhooks.tests.support import store_event

REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture
def redis_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if IN_CI:  # the only proof of the Redis retry timer: CI must not pass without it
            pytest.fail(f"no Redis at {REDIS_URL}: CI=true needs it")
        pytest.skip(f"no Redis at {REDIS_URL} (fails under CI=true)")
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    broker = Redis(list_key=f"i12a-retry-{uuid.uuid4().hex[:8]}")
    # The process's broker is built once from settings (ORM in tests): this test's is Redis.
    monkeypatch.setattr(queue, "_BROKER", (os.getpid(), broker))
    yield broker
    client.delete(broker.list_key)
    client.close()


@pytest.mark.django_db
def test_it_pushes_a_redis_retry_when_it_is_due(settings, redis_broker, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_DELAYS = [1.0]
    event = store_event("tests/always-fails", {"id": 1})
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert processing.process_event(event.pk) == processing.RETRYING
    due = WebhookEvent.objects.get(pk=event.pk).next_attempt_at
    assert redis_broker.queue_size() == 0  # not before it is due
    time.sleep(0.5)
    assert redis_broker.queue_size() == 0
    deadline = time.monotonic() + 3
    while redis_broker.queue_size() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)

    late = (timezone.now() - due).total_seconds()
    assert redis_broker.queue_size() == 1 and late < 0.5, late
    assert not OrmQ.objects.exists()  # nothing written to the database queue


@pytest.mark.django_db
def test_it_sweeps_a_redis_retry_whose_timer_was_lost(settings, redis_broker, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_DELAYS = [3600.0]  # its timer, in this process, stands for one that died with its worker
    event = store_event("tests/always-fails", {"id": 1})
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert processing.process_event(event.pk) == processing.RETRYING
    due = WebhookEvent.objects.get(pk=event.pk).next_attempt_at
    assert due is not None and redis_broker.queue_size() == 0
    # A lease after it was due, nothing has handed it out: the sweeper pushes it itself.
    assert processing.sweep(now=due + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS + 1)) == 1
    assert redis_broker.queue_size() == 1
    (package,) = redis.Redis.from_url(REDIS_URL).lrange(redis_broker.list_key, 0, -1)
    assert SignedPackage.loads(package)["args"] == (event.pk,)
