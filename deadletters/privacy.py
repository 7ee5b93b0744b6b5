"""Dead letters' answers to privacy requests: they copy error texts that can carry a
customer's data, so they scrub and export their own copies."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.dispatch import receiver

from deadletters.batches import BatchItem, ReplayBatch
from deadletters.models import DeadLetter, ReplayRecord
from webhooks.erasure import ERASED, scrub_texts
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted

TEXT_FIELDS = ("error_message", "traceback", "last_replay_error", "note", "attempts")


@receiver(collect_customer_data, dispatch_uid="deadletters.collect_customer_data")
def collect(sender: type, shop_domain: str, event_ids: list[int], **kwargs: Any) -> dict[str, Any]:
    """The dead letters of the customer's events: exactly those the subject index found."""
    letters = DeadLetter.objects.filter(shop_domain=shop_domain, event_id__in=list(event_ids)).order_by("pk")
    items = [
        {
            "id": letter.pk, "event_id": letter.event_id, "topic": letter.topic, "status": letter.status,
            "created_at": letter.created_at.isoformat(), "error_class": letter.error_class,
            "error_message": letter.error_message, "attempts": letter.attempts,
        }
        for letter in letters
    ]
    return {"section": "dead_letters", "items": items}


@receiver(customer_redacted, dispatch_uid="deadletters.scrub_customer")
def scrub_customer(sender: type, shop_domain: str, needles: list[str], **kwargs: Any) -> int:
    """The customer's identifying strings out of the shop's dead letters, their replay
    records, and replay batches: what operators typed (description, pause reasons in the
    history) and the report's lines (ids and classes, but they may predate that rule)."""
    changed = scrub_texts(DeadLetter.objects.filter(shop_domain=shop_domain), TEXT_FIELDS, needles)
    changed += scrub_texts(ReplayRecord.objects.filter(dead_letter__shop_domain=shop_domain), ["error", "summary"], needles)
    changed += scrub_texts(BatchItem.objects.filter(shop_domain=shop_domain), ["error", "error_class"], needles)
    # A replay batch has no shop (one batch may span shops): it cannot be scoped, and the
    # needles are only the customer's own e-mails, phones and full name.
    return changed + scrub_texts(ReplayBatch.objects.all(), ["description", "pause_reason", "history"], needles)


@receiver(shop_redacted, dispatch_uid="deadletters.erase_shop")
def erase_shop(sender: type, shop_domain: str, **kwargs: Any) -> int:
    """Error texts go; class, fingerprint, status, counts and times stay for audit."""
    letters = DeadLetter.objects.filter(shop_domain=shop_domain)
    for letter in letters.iterator(chunk_size=500):
        attempts = [{**a, "error": a.get("error", "").split(":")[0]} for a in letter.attempts or []]
        DeadLetter.objects.filter(pk=letter.pk).update(
            error_message=ERASED, traceback="", last_replay_error="", note="", attempts=attempts
        )
    ReplayRecord.objects.filter(dead_letter__shop_domain=shop_domain).filter(~Q(error="")).update(error=ERASED)
    return letters.count()
