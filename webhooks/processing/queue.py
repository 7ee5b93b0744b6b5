"""Broker plumbing: how an event's task reaches the worker cluster, now or at a time.

A retry never holds a worker: the failed attempt is recorded and the event's next task is
written for the time it is due. With django-q2's ORM broker that is a queue row whose
`lock` is the due time (the broker hands out rows with `lock < now`), inserted in the
transaction that records the attempt, so the retry exists iff the attempt was recorded.
Redis has no delayed delivery: the worker process keeps a timer thread that pushes the
task when it is due, and the sweeper covers a timer lost with its process.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger("webhooks.processing")

TASK = "webhooks.tasks.process_event"
# The intake's task names the delivery, not the row: it is built and signed before the
# INSERT that gives the row its id, so that both can be written by one statement.
DELIVERY_TASK = "webhooks.tasks.process_delivery"

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


def _package(func: str, *args: Any, name: str) -> tuple[str, str]:
    from django_q.tasks import async_task

    capture = _Capture(_broker().list_key)
    # save=False: no django-q2 Success row per event (its pruning locks the table).
    async_task(func, *args, save=False, task_name=name[:100], broker=capture)
    assert capture.package is not None
    return capture.list_key, capture.package


def delivery_task(provider: str, webhook_id: str) -> tuple[str, str]:
    """(queue name, signed django-q2 package) of the task that processes this delivery."""
    return _package(DELIVERY_TASK, provider, webhook_id, name=f"delivery-{webhook_id}")


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


def enqueue(event_id: int) -> bool:
    """Hand an event to the worker cluster. Never raises: the sweeper covers a failure."""
    from django_q.tasks import async_task

    try:
        async_task(TASK, event_id, save=False, task_name=f"event-{event_id}", broker=_broker())
    except Exception:  # noqa: BLE001
        logger.warning("could not enqueue event %s; the sweeper will retry", event_id, exc_info=True)
        return False
    return True


def enqueue_at(event_id: int, due: datetime) -> None:
    """Hand the event to the cluster when it is due; call it in the transaction that
    releases the event. ORM broker: a queue row invisible until `due`, committed with
    that transaction. Redis: a timer in this process, started once it commits."""
    if queue_is_transactional():
        from django_q.models import OrmQ

        key, package = _package(TASK, event_id, name=f"event-{event_id}")
        OrmQ.objects.create(key=key, payload=package, lock=due)
        return
    transaction.on_commit(lambda: _enqueue_later(event_id, due))


def _enqueue_later(event_id: int, due: datetime) -> None:
    delay = max(0.0, (due - timezone.now()).total_seconds())
    timer = threading.Timer(delay, enqueue, args=(event_id,))
    # A daemon: a worker that stops or recycles drops its timers, and the sweeper then
    # finds the event due and not handed out (WebhookEvent.last_enqueued_at).
    timer.daemon = True
    timer.start()
