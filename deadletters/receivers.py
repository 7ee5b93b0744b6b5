"""Listeners for what webhooks processing announces."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deadletters.models import DeadLetter, DeadLetterStatus, fingerprint
from webhooks import textsafe
from webhooks.models import WebhookEvent
from webhooks.signals import event_dead


def attempt_history(event: WebhookEvent) -> list[dict[str, Any]]:
    return [
        {
            "number": a.number,
            "trigger": a.trigger,
            "started_at": a.started_at.isoformat(),
            "duration_ms": round(a.duration_ms, 1),
            "outcome": a.outcome,
            "error": textsafe.clean(f"{a.error_class}: {a.error_message}".strip(": "), 2000),
        }
        for a in event.attempt_log.order_by("number")
    ]


@receiver(event_dead, dispatch_uid="deadletters.open_dead_letter")
def open_dead_letter(sender: type, event: WebhookEvent, result: Any, **kwargs: Any) -> DeadLetter:
    """Open a dead letter for the event, or update the one already open for it."""
    error_class = textsafe.for_field(DeadLetter, "error_class", result.error_class)
    error_message = textsafe.for_field(DeadLetter, "error_message", result.error_message)
    values = {
        "provider": event.provider,
        "topic": event.topic,
        "shop_domain": event.shop_domain,
        "error_class": error_class,
        "error_message": error_message,
        "traceback": textsafe.for_field(DeadLetter, "traceback", result.traceback),
        "fingerprint": fingerprint(error_class, error_message, event.topic),
        "attempts": attempt_history(event),
    }
    existing = DeadLetter.objects.filter(
        event=event, status__in=[DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING]
    ).first()
    if existing:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.save()
        return existing
    return DeadLetter.objects.create(event=event, **values)
