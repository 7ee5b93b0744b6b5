"""The webhook a log line is about, carried in a contextvar.

Ingest and processing bind the webhook id (and the stored event's primary key) for the
duration of their work; `WebhookContextFilter`, installed on the log handler, copies them
onto every record written meanwhile, whichever module logs it (ours, Django, a handler).
A scope always restores the previous value, so a gunicorn worker or a django-q2 worker
that goes on to the next request or task never carries a stale id.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

_current: ContextVar[dict[str, Any] | None] = ContextVar("webhook_log_context", default=None)

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def scope(**values: Any) -> Iterator[dict[str, Any]]:
    """A fresh context for one delivery or one event; `bind` adds to it."""
    context = {k: v for k, v in values.items() if v not in (None, "")}
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def scoped(func: F) -> F:
    """Run `func` in a scope of its own, opened empty: the function binds the event's pk
    and webhook id once it has read the event (a task's first argument is not always the
    pk: the intake's task is called with the provider and the delivery id)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with scope():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def bind(**values: Any) -> None:
    """Add values to the current scope (no-op outside one)."""
    context = _current.get()
    if context is not None:
        context.update({k: v for k, v in values.items() if v not in (None, "")})


class WebhookContextFilter(logging.Filter):
    """Adds `webhook_id`, `event_pk` and a ready-made `webhook_suffix` for plain text."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get() or {}
        record.webhook_id = context.get("webhook_id", "")
        record.event_pk = context.get("event_pk")
        parts = [f"{k}={context[k]}" for k in ("webhook_id", "event_pk") if k in context]
        record.webhook_suffix = f" [{' '.join(parts)}]" if parts else ""
        return True
