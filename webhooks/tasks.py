"""django-q2 entry points. Thin: the work is in webhooks.processing."""

from __future__ import annotations

from webhooks import processing


def process_event(event_id: int) -> str:
    return processing.process_event(event_id)

