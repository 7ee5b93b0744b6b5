"""Payload revisions: an edited copy of an event's payload that a replay runs on.

The received payload is evidence and is never changed: an operator who mends a bad
payload (edit and replay, deadletters) writes a revision here, with who, when and why, and
the replay hands the handler the revision instead. Revisions belong to their event: they
are deleted with it (retention: the foreign key cascades), scrubbed with it (a customer's
or a shop's redaction) and exported with it (a customer's data request): the receivers
are in webhooks.revision_privacy.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.conf import settings
from django.db import models

from webhooks import textsafe


class PayloadRevision(models.Model):
    # By name: webhooks.models imports this module (the model is one of the app's).
    event = models.ForeignKey("webhooks.WebhookEvent", on_delete=models.CASCADE, related_name="payload_revisions",
                              help_text="The event whose payload was edited; deleted with it.")
    number = models.PositiveIntegerField(help_text="1 for the event's first revision, and so on.")
    payload = models.JSONField(help_text="The edited payload a replay ran on. The received one is unchanged.")
    reason = models.TextField(help_text="Why the payload was edited.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who edited it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["event", "number"]
        constraints = [models.UniqueConstraint(fields=["event", "number"], name="webhooks_revision_number")]
        permissions = [("edit_and_replay", "Can edit a dead letter's payload and replay it (kept as a revision)")]

    def __str__(self) -> str:
        return f"revision {self.number} of event {self.event_id}"

    @property
    def trigger(self) -> str:
        """What the attempt row of a replay on this revision says it was (20 characters)."""
        return f"revision {self.number}"[:20]


def storable(value: Any) -> Any:
    """A copy of a JSON value an operator typed, every string (keys too) through textsafe:
    NUL and lone surrogates, which neither database stores, become U+FFFD. Walked with a
    stack, not recursion: a deeply nested payload is no problem."""
    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = textsafe.clean(item, None)
        elif isinstance(item, list):
            container[key] = items = list(item)
            stack.extend((items, index) for index in range(len(items)))
        elif isinstance(item, dict):
            container[key] = fields = {textsafe.clean(k, None): v for k, v in item.items()}
            stack.extend((fields, k) for k in fields)
    return root[0]


def diff(received: Any, edited: Any) -> list[tuple[str, str]]:
    """A line diff of the two payloads as indented JSON: (kind, line), kind one of
    " ", "-", "+", "@" (a hunk header). Empty when they are the same."""
    before = json.dumps(received, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    after = json.dumps(edited, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    lines = list(difflib.unified_diff(before, after, "received", "edited", lineterm="", n=3))[2:]
    return [(line[:1], line[1:]) for line in lines]
