"""Payload revisions answer privacy requests like the payloads they copy: a customer's
redaction erases what belongs to the customer in them and their strings everywhere, a
shop's redaction erases them, a data request exports those of the customer's events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.dispatch import receiver

from webhooks import subjects
from webhooks.erasure import Found, Owner, erase_owned, scrub_texts
from webhooks.revisions import PayloadRevision
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted


@receiver(customer_redacted, dispatch_uid="webhooks.revisions.scrub_customer")
def scrub_customer(
    sender: type, shop_domain: str, needles: list[str], customer_id: str = "", **kwargs: Any
) -> int:
    """As for the events: the objects of each revision that belong to the customer lose
    their personal fields (webhooks.erasure), then the strings erased anywhere go from
    every revision of the shop (payload and reason)."""
    revisions = PayloadRevision.objects.filter(event__shop_domain=shop_domain)
    owner, changed = Owner(str(customer_id)), 0
    if customer_id:
        for revision in revisions.select_related("event").iterator(chunk_size=200):
            if erase_owned(revision.event.topic, revision.payload, owner, Found()):
                PayloadRevision.objects.filter(pk=revision.pk).update(payload=revision.payload)
                changed += 1
    return changed + scrub_texts(revisions, ["payload", "reason"], needles)


@receiver(shop_redacted, dispatch_uid="webhooks.revisions.erase_shop")
def erase_shop(sender: type, shop_domain: str, **kwargs: Any) -> int:
    return PayloadRevision.objects.filter(event__shop_domain=shop_domain).update(payload={}, reason="")


@receiver(collect_customer_data, dispatch_uid="webhooks.revisions.collect")
def collect(
    sender: type, shop_domain: str, event_ids: Iterable[int], customer_id: str = "", **kwargs: Any
) -> dict[str, Any]:
    """Revisions of the customer's events, and any other of the shop that names the
    customer (an edit can add them)."""
    ids, wanted = set(event_ids), subjects.normalise(subjects.CUSTOMER_ID, customer_id)
    items = []
    for revision in PayloadRevision.objects.filter(event__shop_domain=shop_domain).select_related("event"):
        mentioned = wanted is not None and any(
            s.kind == subjects.CUSTOMER_ID and s.value == wanted
            for s in subjects.extract(revision.event.topic, revision.payload))
        if revision.event_id in ids or mentioned:
            items.append({"event_id": revision.event_id, "number": revision.number, "payload": revision.payload,
                          "created_at": revision.created_at.isoformat()})
    return {"section": "payload_revisions", "items": items}
