"""Dead letters' answers to privacy requests: they copy error texts that can carry a
customer's data, so they scrub and export their own copies."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q
from django.dispatch import receiver

from deadletters.models import DeadLetter, ReplayRecord
from webhooks.privacy import ERASED, needle_pattern, replace_text
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted

TEXT_FIELDS = ("error_message", "traceback", "last_replay_error", "note")


def _mentioning(shop_domain: str, event_ids: list[int], pattern: re.Pattern[str] | None) -> list[DeadLetter]:
    letters = DeadLetter.objects.filter(shop_domain=shop_domain)
    found = []
    for letter in letters.iterator(chunk_size=500):
        text = " ".join(str(getattr(letter, f)) for f in TEXT_FIELDS) + str(letter.attempts)
        if letter.event_id in event_ids or (pattern is not None and pattern.search(text)):
            found.append(letter)
    return found


@receiver(collect_customer_data, dispatch_uid="deadletters.collect_customer_data")
def collect(sender: type, shop_domain: str, event_ids: list[int], needles: list[str], **kwargs: Any) -> dict[str, Any]:
    items = [
        {
            "id": letter.pk, "event_id": letter.event_id, "topic": letter.topic, "status": letter.status,
            "created_at": letter.created_at.isoformat(), "error_class": letter.error_class,
            "error_message": letter.error_message, "attempts": letter.attempts,
        }
        for letter in _mentioning(shop_domain, list(event_ids), needle_pattern(needles))
    ]
    return {"section": "dead_letters", "items": items}


@receiver(customer_redacted, dispatch_uid="deadletters.scrub_customer")
def scrub_customer(sender: type, shop_domain: str, needles: list[str], **kwargs: Any) -> int:
    pattern = needle_pattern(needles)
    if pattern is None:
        return 0
    changed = 0
    for letter in DeadLetter.objects.filter(shop_domain=shop_domain).iterator(chunk_size=500):
        values = {f: getattr(letter, f) for f in (*TEXT_FIELDS, "attempts")}
        clean = {f: replace_text(v, pattern) for f, v in values.items()}
        if clean != values:
            DeadLetter.objects.filter(pk=letter.pk).update(**clean)
            changed += 1
    for record in ReplayRecord.objects.filter(dead_letter__shop_domain=shop_domain).iterator(chunk_size=500):
        values = {"error": record.error, "summary": record.summary}
        clean = {f: replace_text(v, pattern) for f, v in values.items()}
        if clean != values:
            ReplayRecord.objects.filter(pk=record.pk).update(**clean)
    return changed


@receiver(shop_redacted, dispatch_uid="deadletters.erase_shop")
def erase_shop(sender: type, shop_domain: str, **kwargs: Any) -> int:
    """Error texts go; class, fingerprint, status, counts and times stay for audit."""
    letters = DeadLetter.objects.filter(shop_domain=shop_domain)
    for letter in letters.iterator(chunk_size=500):
        attempts = [{**a, "error": a.get("error", "").split(":")[0]} for a in letter.attempts or []]
        DeadLetter.objects.filter(pk=letter.pk).update(
            error_message=ERASED, traceback="", last_replay_error="", attempts=attempts
        )
    ReplayRecord.objects.filter(dead_letter__shop_domain=shop_domain).filter(~Q(error="")).update(error=ERASED)
    return letters.count()
