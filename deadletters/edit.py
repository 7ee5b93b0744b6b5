"""Edit and replay: a dead letter replayed once on a payload an operator mended. The
received payload stays as it came; the edit is kept as a revision of the event
(webhooks.revisions), and the replay takes the one replay path (deadletters.replay)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from deadletters.actors import user_or_none
from deadletters.models import DeadLetter, ReplayRecord
from deadletters.replay import replay_chunk
from webhooks import textsafe
from webhooks.models import WebhookEvent
from webhooks.revisions import PayloadRevision, storable

if TYPE_CHECKING:
    from deadletters.actors import Actor


def replay_edited(dead_letter: DeadLetter, payload: Any, reason: str, actor: Actor) -> ReplayRecord:
    """Edit and replay: keep `payload` as a new revision of the dead letter's event (who,
    when, why) and replay the dead letter once on it. The received payload is not touched.
    Raises ValueError when the dead letter is not open or the reason is empty."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required: say what was wrong with the payload")
    if not dead_letter.is_open:
        raise ValueError(f"dead letter {dead_letter.pk} is {dead_letter.status}, not open")
    with transaction.atomic():
        # The event row is locked while its next number is chosen: two editors at once get 1 and 2.
        WebhookEvent.objects.select_for_update().filter(pk=dead_letter.event_id).values_list("pk", flat=True).first()
        number = PayloadRevision.objects.filter(event_id=dead_letter.event_id).count() + 1
        revision = PayloadRevision.objects.create(
            event_id=dead_letter.event_id, number=number, payload=storable(payload),
            reason=textsafe.for_field(PayloadRevision, "reason", reason), created_by=user_or_none(actor),
        )
    records = replay_chunk([dead_letter.pk], actor, source="edit", revision=revision,
                           log=f"Edited the payload (revision {number}) and replayed")
    dead_letter.refresh_from_db()
    return records[0]
