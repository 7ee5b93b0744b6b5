"""The handler registry: one function per topic, each in a small module of this package.

A handler receives a HandlerContext and returns a one-line summary of what it did. It runs
inside a transaction that also records the event as processed, so its database work and
that record commit together or not at all. It raises PermanentError (no retries),
RetryLater (wait without failing) or any other exception (retried with back-off).
To add a topic: write a module here with a function decorated `@handler("topic/name")`
(from webhooks.handlers.registry) and import the module below.

`@handler(topic, atomic=False)` is for handlers whose work is outside the database
(forwarding over HTTP): they run before the transaction that records the outcome, so
their own bookkeeping (a circuit breaker's failure count) survives a failure and no
database lock is held during a slow request. They must be safe to run twice.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from webhooks.handlers import app, forward, orders, privacy, shop  # noqa: F401  (register handlers)
from webhooks.handlers.registry import (
    REGISTRY,
    ROUTE_RESOLVERS,
    TEST_TOPIC_PREFIX,
    HandlerContext,
    HandlerFunc,
    handled_topics,
    handler,
    is_atomic,
    resolve,
)

__all__ = [
    "REGISTRY", "ROUTE_RESOLVERS", "TEST_TOPIC_PREFIX", "HandlerContext", "HandlerFunc", "handled_topics", "handler",
    "is_atomic", "resolve",
]


def _load_extra_modules() -> None:
    for module in settings.WEBHOOK_EXTRA_HANDLER_MODULES:
        import_module(module)


_load_extra_modules()
