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
    if SWITCH.fail:
        raise RuntimeError(SWITCH.message.format(order=ctx.event.payload.get("id")))
    return f"order {ctx.event.payload.get('id')} handled"


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


def staff_user(username: str, group: str | None) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-for-tests-only", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user
