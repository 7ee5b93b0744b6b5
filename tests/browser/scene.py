"""Demo data for the browser flows, made through the real code paths: signed deliveries
POSTed to the live server, then processed by what a worker does with the queue.

Two shops; the `tests/flaky` handler fails (a RuntimeError with a real traceback) until the
test flips its switch, and an app/scopes_update delivery without its scopes fails
permanently (PayloadInvalid).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deadletters.models import DeadLetter
from deadletters.tests.factories import TOPIC, run_queued_tasks

ACME = "acme-shoes.myshopify.com"
NORTH = "north-wind.myshopify.com"
CHANGELIST = "/admin/deadletters/deadletter/"


@dataclass
class Scene:
    """What was delivered, by shop and order id, to find the same rows in the browser."""

    dead: dict[int, DeadLetter] = field(default_factory=dict)  # order id -> its dead letter
    processed: list[int] = field(default_factory=list)  # event ids

    def dead_letter(self, order: int) -> DeadLetter:
        return self.dead[order]


def build(deliver: Callable[..., int]) -> Scene:
    scene = Scene()
    orders = {1001: ACME, 1002: ACME, 1003: ACME, 2001: NORTH}
    events = {order: deliver({"id": order, "email": f"buyer-{order}@example.com", "total_price": "59.90"},
                             topic=TOPIC, shop=shop) for order, shop in orders.items()}
    scene.processed.append(deliver({"id": 7, "current": ["read_orders", "write_products"]},
                                   topic="app/scopes_update", shop=ACME))
    broken = deliver({"id": 8, "previous": ["read_orders"]}, topic="app/scopes_update", shop=NORTH)
    ran = run_queued_tasks()  # the worker's share: one process_event task per delivery
    assert ran == len(orders) + 2
    for order, event_id in events.items():
        scene.dead[order] = DeadLetter.objects.get(event_id=event_id, status="open")
    scene.dead[8] = DeadLetter.objects.get(event_id=broken, status="open")
    return scene


def search(page: Any, term: str) -> None:
    """What support staff type into the changelist's search box."""
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")
