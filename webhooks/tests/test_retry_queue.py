"""A retry reaches the broker when it is due, not before, with Redis too (which has no
delayed delivery: a timer in the worker process pushes it). Uses the shared Redis on
127.0.0.1:6379, database 12 (this branch's own), a list of its own per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.utils import timezone
from django_q.models import OrmQ

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
        pytest.skip(f"no Redis at {REDIS_URL}")
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
