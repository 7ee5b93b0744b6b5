"""The handler registry: topic -> handler function, and how an event finds its handler.

Below every handler module: each imports `handler` and `HandlerContext` from here, and the
package (webhooks/handlers/__init__.py) imports the handler modules, so that importing
`webhooks.handlers` registers them all. See the package's docstring for the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webhooks.models import ForwardDestination, Shop, WebhookEvent


@dataclass
class HandlerContext:
    event: WebhookEvent
    shop: Shop | None
    attempt: int
    # A dry run executes inside a transaction that is rolled back; a handler that talks
    # to the outside world must not do so when this is set.
    dry_run: bool = False
    # A replay to another destination (a ForwardDestination): forwarding handlers send
    # there instead of their route's destination.
    destination: ForwardDestination | None = None


HandlerFunc = Callable[[HandlerContext], "str | None"]

REGISTRY: dict[str, HandlerFunc] = {}


def handler(topic: str, *, atomic: bool = True) -> Callable[[HandlerFunc], HandlerFunc]:
    def register(func: HandlerFunc) -> HandlerFunc:
        if topic in REGISTRY and REGISTRY[topic] is not func:
            raise RuntimeError(f"two handlers registered for {topic}")
        func.atomic = atomic  # type: ignore[attr-defined]
        REGISTRY[topic] = func
        return func

    return register


def is_atomic(func: HandlerFunc) -> bool:
    return bool(getattr(func, "atomic", True))


# Hook for routing overrides (topic -> forward destination), installed by the forward
# handler's module (webhooks.handlers.forward). Returns a handler or None to fall back to the registry.
ROUTE_RESOLVERS: list[Callable[[WebhookEvent], HandlerFunc | None]] = []


def resolve(event: WebhookEvent) -> HandlerFunc | None:
    """The handler for an event's topic, or None (the event is then ignored)."""
    for resolver in ROUTE_RESOLVERS:
        func = resolver(event)
        if func is not None:
            return func
    if event.provider != "shopify":
        return REGISTRY.get(f"{event.provider}:{event.topic}")
    return REGISTRY.get(event.topic)


# Topics under this prefix are reserved for handlers that tests register.
TEST_TOPIC_PREFIX = "tests/"


def handled_topics() -> list[str]:
    return sorted(t for t in REGISTRY if ":" not in t and not t.startswith(TEST_TOPIC_PREFIX))
