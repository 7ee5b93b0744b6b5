"""Dead letters made through the real processing path, with a test-only handler whose
behaviour the test controls, and staff users in the groups the migration created."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import connection

from deadletters.models import DeadLetter
from webhooks import handlers
from webhooks.handlers import HandlerContext
from webhooks.processing import process_event
from webhooks.store import insert_event

# Reserved for tests: never a real Shopify topic.
TOPIC = "tests/flaky"
CALLS_TABLE = "deadletters_test_handler_calls"


class Switch:
    """What the test handler does; flipped by tests, shared by threads."""

    def __init__(self) -> None:
        self.fail = True
        self.sleep = 0.0
        self.count_in_table = False
        self.message = "upstream refused order {order} (HTTP 502)"
        self.fail_orders: set[int] = set()  # with fail=False: these order ids still fail
        self.calls = 0
        self.lock = threading.Lock()


SWITCH = Switch()


def flaky_handler(ctx: HandlerContext) -> str:
    with SWITCH.lock:
        SWITCH.calls += 1
    if SWITCH.sleep:
        time.sleep(SWITCH.sleep)
    if SWITCH.count_in_table:
        # Part of the handler's transaction: a row here means a committed run.
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {CALLS_TABLE} (event_id) VALUES (%s)", [ctx.event.pk])  # noqa: S608
    if SWITCH.fail or ctx.event.payload.get("id") in SWITCH.fail_orders:
        raise RuntimeError(SWITCH.message.format(order=ctx.event.payload.get("id")))
    return f"order {ctx.event.payload.get('id')} handled"


def committed_runs() -> dict[int, int]:
    """Committed runs of the test handler per event id, read from the calls table (the
    `calls_table` fixture creates it; SWITCH.count_in_table makes the handler write it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_id, COUNT(*) FROM {CALLS_TABLE} GROUP BY event_id")  # noqa: S608
        return {int(event_id): int(count) for event_id, count in cursor.fetchall()}


def register() -> None:
    handlers.REGISTRY[TOPIC] = flaky_handler


def unregister() -> None:
    handlers.REGISTRY.pop(TOPIC, None)


def make_dead_letters(
    count: int = 1, *, shop: str = "demo-shop.myshopify.com", payload: dict[str, Any] | None = None,
    topic: str = TOPIC,
) -> list[DeadLetter]:
    """Store events and process them with a failing handler (settings.WEBHOOK_RETRY_DELAYS
    must be [] for speed): each one dies and opens a dead letter through the real path."""
    fail = SWITCH.fail
    SWITCH.fail = True
    made = []
    try:
        for n in range(count):
            event_id = insert_event(
                provider="shopify", topic=topic, shop_domain=shop, webhook_id=f"wh-{uuid.uuid4()}",
                payload=payload if payload is not None else {"id": 1000 + n, "email": "jon@example.com"},
                headers={"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": "[redacted]"},
            )
            assert event_id is not None
            assert process_event(event_id) == "dead"
            made.append(DeadLetter.objects.get(event_id=event_id, status="open"))
    finally:
        SWITCH.fail = fail
    return made


def bulk_dead_letters(count: int, *, shop: str = "bulk-shop.myshopify.com", topic: str = TOPIC) -> list[DeadLetter]:
    """Many dead letters at once, as processing leaves them (dead event, open dead letter),
    without running processing for each: for tests about volume."""
    from deadletters.models import fingerprint
    from webhooks.models import WebhookEvent

    tag = uuid.uuid4().hex[:8]
    events = WebhookEvent.objects.bulk_create([
        WebhookEvent(topic=topic, shop_domain=shop, webhook_id=f"bulk-{tag}-{n}", payload={"id": n}, status="dead",
                     attempts=1, last_error="RuntimeError: boom")
        for n in range(count)
    ])
    if not all(e.pk for e in events):  # backends that do not return ids from bulk_create
        events = list(WebhookEvent.objects.filter(webhook_id__startswith=f"bulk-{tag}-").order_by("pk"))
    fp = fingerprint("RuntimeError", "boom", topic)
    DeadLetter.objects.bulk_create([
        DeadLetter(event=e, topic=topic, shop_domain=shop, error_class="RuntimeError", error_message="boom",
                   fingerprint=fp, attempts=[])
        for e in events
    ])
    return list(DeadLetter.objects.filter(event__in=events).order_by("pk"))


def run_queued_tasks() -> int:
    """Do what a django-q2 worker does with the queue: take each task from the broker,
    call its function, acknowledge it; until the queue is empty. Returns how many ran."""
    from pydoc import locate

    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker, ran = get_broker(), 0
    while tasks := broker.dequeue():
        for ack_id, package in tasks:
            task = SignedPackage.loads(package)
            func = locate(task["func"])
            assert callable(func), task["func"]
            func(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            ran += 1
    return ran


def staff_user(username: str, group: str | None) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-for-tests-only", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user
