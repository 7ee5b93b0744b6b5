"""Payload revisions answer privacy requests like the payloads they copy: a customer's
redaction scrubs them, a shop's erases them, a data request exports them."""

from __future__ import annotations

import json
from typing import Any

from django.dispatch import receiver

from webhooks.models import WebhookEvent
from webhooks.privacy import Customer, mentions, needle_pattern, replace_text, scrub_personal
from webhooks.revisions import PayloadRevision
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted


@receiver(customer_redacted, dispatch_uid="webhooks.revisions.scrub_customer")
def scrub_customer(sender: type, shop_domain: str, needles: list[str], customer_id: str = "", **kwargs: Any) -> int:
    """As redaction does to payloads: a revision that mentions the customer (their id, or
    one of their strings) loses its personal fields, and every revision of the shop loses
    the customer's strings (e-mail, phone, the names found)."""
    pattern = needle_pattern(needles)
    who = Customer(customer_id=str(customer_id))
    changed = 0
    revisions = PayloadRevision.objects.filter(event__shop_domain=shop_domain).select_related("event")
    for revision in revisions.iterator(chunk_size=200):
        payload = revision.payload
        text = json.dumps(payload, ensure_ascii=False)
        as_event = WebhookEvent(topic=revision.event.topic, payload=payload)
        if (customer_id and mentions(as_event, who)) or (pattern is not None and pattern.search(text)):
            payload = scrub_personal(payload, set())
        clean = {"payload": replace_text(payload, pattern), "reason": replace_text(revision.reason, pattern)}
        if clean != {"payload": revision.payload, "reason": revision.reason}:
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
