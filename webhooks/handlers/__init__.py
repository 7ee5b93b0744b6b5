"""The handler registry: one function per topic, each in a small module of this package.

A handler receives a HandlerContext and returns a one-line summary of what it did. It runs
inside a transaction that also records the event as processed, so its database work and
that record commit together or not at all. It raises PermanentError (no retries),
RetryLater (wait without failing) or any other exception (retried with back-off).
To add a topic: write a module here with a function decorated `@handler("topic/name")`
and import the module at the bottom of this file.

`@handler(topic, atomic=False)` is for handlers whose work is outside the database
(forwarding over HTTP): they run before the transaction that records the outcome, so
their own bookkeeping (a circuit breaker's failure count) survives a failure and no
database lock is held during a slow request. They must be safe to run twice.
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


# Hook for routing overrides (topic -> forward destination), installed by the routing
# module. Returns a handler or None to fall back to the registry.
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


from webhooks.handlers import app, forward, orders, privacy, shop  # noqa: E402,F401  (register handlers)


def _load_extra_modules() -> None:
    from importlib import import_module

    from django.conf import settings

    for module in settings.WEBHOOK_EXTRA_HANDLER_MODULES:
        import_module(module)


_load_extra_modules()
