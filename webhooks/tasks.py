"""django-q2 entry points. Thin: the work is in webhooks.processing (one attempt per task;
a retry is a new task written for its due time, never a sleep in this one)."""

from __future__ import annotations

from webhooks import processing


def process_event(event_id: int) -> str:
    return processing.process_event(event_id)


def process_delivery(provider: str, webhook_id: str) -> str:
    return processing.process_delivery(provider, webhook_id)
