"""Payload revisions answer privacy requests like the payloads they copy: a customer's
redaction scrubs them, a shop's erases them, a data request exports them."""

from __future__ import annotations

import json
from typing import Any

from django.dispatch import receiver

from webhooks.privacy import needle_pattern, replace_text
from webhooks.revisions import PayloadRevision
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted


@receiver(customer_redacted, dispatch_uid="webhooks.revisions.scrub_customer")
def scrub_customer(sender: type, shop_domain: str, needles: list[str], **kwargs: Any) -> int:
    """The customer's exact strings (e-mail, phone, names) go from the shop's revisions,
    as from its events' other texts."""
    pattern = needle_pattern(needles)
    if pattern is None:
        return 0
    changed = 0
    for revision in PayloadRevision.objects.filter(event__shop_domain=shop_domain).iterator(chunk_size=200):
        texts = {"payload": revision.payload, "reason": revision.reason}
        clean = {name: replace_text(value, pattern) for name, value in texts.items()}
        if clean != texts:
            PayloadRevision.objects.filter(pk=revision.pk).update(**clean)
            changed += 1
    return changed


@receiver(shop_redacted, dispatch_uid="webhooks.revisions.erase_shop")
def erase_shop(sender: type, shop_domain: str, **kwargs: Any) -> int:
    return PayloadRevision.objects.filter(event__shop_domain=shop_domain).update(payload={}, reason="")


@receiver(collect_customer_data, dispatch_uid="webhooks.revisions.collect")
def collect(sender: type, shop_domain: str, event_ids: list[int], needles: list[str], **kwargs: Any) -> dict[str, Any]:
    """Revisions of the events that mention the customer, and any other of the shop that
    carries one of the customer's strings."""
    pattern = needle_pattern(needles)
    items = []
    for revision in PayloadRevision.objects.filter(event__shop_domain=shop_domain).iterator(chunk_size=200):
        text = json.dumps(revision.payload, ensure_ascii=False)
        if revision.event_id in event_ids or (pattern is not None and pattern.search(text)):
            items.append({"event_id": revision.event_id, "number": revision.number, "payload": revision.payload,
                          "created_at": revision.created_at.isoformat()})
    return {"section": "payload_revisions", "items": items}
