"""Finding, exporting and scrubbing one customer's (or one shop's) personal data.

Shopify's mandatory privacy webhooks name a customer by id, e-mail and phone. An event
"mentions" the customer when its payload carries one of those (or is one of the orders
to redact). In a mentioning payload every personal field (e-mail, phone, names, address
lines, coordinates, browser IP, notes) is replaced; ids, amounts, topics and times stay.
The strings removed then become needles scrubbed from every other stored text of the
shop (other payloads, error messages, tracebacks), and listeners of `customer_redacted`
scrub their own copies (dead letters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from webhooks.models import CustomerDataExport, EventAttempt, Shop, WebhookEvent
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted
from webhooks.subject_index import EventSubject

REDACTED = "[redacted]"
ERASED = "[erased: shop redacted]"
# Keys whose value is personal wherever they appear in a payload that mentions the customer.
PERSONAL_KEYS = {
    "email", "contact_email", "phone", "first_name", "last_name", "address1", "address2", "city", "zip",
    "province", "company", "latitude", "longitude", "browser_ip", "note", "customer_email",
}
# "name" is a person's name only in a person or an address (elsewhere: a product, "#1001").
PERSON_MARKERS = {"first_name", "last_name", "address1", "email", "phone"}
# Needles shorter than this would match too much (initials, "NY").
MIN_NEEDLE = 3


@dataclass
class Customer:
    customer_id: str
    email: str = ""
    phone: str = ""
    order_ids: set[str] = field(default_factory=set)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Customer:
        from webhooks.errors import PayloadInvalid

        customer = payload.get("customer")
        if not isinstance(customer, dict) or customer.get("id") in (None, ""):
            raise PayloadInvalid("payload has no customer.id")
        orders = payload.get("orders_to_redact") or payload.get("orders_requested") or []
        return cls(
            customer_id=str(customer["id"]),
            email=str(customer.get("email") or "").strip(),
            phone=str(customer.get("phone") or "").strip(),
            order_ids={str(o) for o in orders if o is not None} if isinstance(orders, list) else set(),
        )

    @property
    def needles(self) -> set[str]:
        return {n for n in (self.email, self.phone) if len(n) >= MIN_NEEDLE}


def _walk_dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk_dicts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_dicts(v)


def mentions(event: WebhookEvent, who: Customer) -> bool:
    payload = event.payload
    text = json.dumps(payload, ensure_ascii=False).lower()
    if any(n.lower() in text for n in who.needles):
        return True
    if event.topic.startswith("orders/") and isinstance(payload, dict) and str(payload.get("id")) in who.order_ids:
        return True
    for d in _walk_dicts(payload):
        if str(d.get("customer_id", "")) == who.customer_id:
            return True
        customer = d.get("customer")
        if isinstance(customer, dict) and str(customer.get("id", "")) == who.customer_id:
            return True
    return False


def scrub_personal(value: Any, found: set[str]) -> Any:
    """A copy of `value` with personal fields replaced; their string values go in `found`."""
    if isinstance(value, list):
        return [scrub_personal(v, found) for v in value]
    if not isinstance(value, dict):
        return value
    person = bool(PERSON_MARKERS & value.keys())
    out: dict[str, Any] = {}
    for key, v in value.items():
        if (key in PERSONAL_KEYS or (key == "name" and person)) and v not in (None, "", [], {}):
            if isinstance(v, str) and len(v.strip()) >= MIN_NEEDLE:
                found.add(v.strip())
            out[key] = REDACTED if isinstance(v, str) else None
        else:
            out[key] = scrub_personal(v, found)
    return out


def needle_pattern(needles: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({n for n in needles if len(n) >= MIN_NEEDLE}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in ordered) + r")(?!\w)", re.IGNORECASE)


def replace_text(value: Any, pattern: re.Pattern[str] | None) -> Any:
    """Replace needles in every string of a JSON value (keys included)."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, list):
        return [replace_text(v, pattern) for v in value]
    if isinstance(value, dict):
        return {replace_text(k, pattern): replace_text(v, pattern) for k, v in value.items()}
    return value


def mentioning_events(shop_domain: str, who: Customer) -> list[WebhookEvent]:
    events = WebhookEvent.objects.filter(shop_domain=shop_domain).order_by("pk")
    return [e for e in events.iterator(chunk_size=500) if mentions(e, who)]


def build_export(shop_domain: str, who: Customer, request_event: WebhookEvent, data_request_id: str) -> CustomerDataExport:
    """Collect what is stored about the customer into one export row (rebuilt, never
    duplicated, when the same request is processed again)."""
    events = [e for e in mentioning_events(shop_domain, who) if e.pk != request_event.pk]
    sections: dict[str, list[dict[str, Any]]] = {}
    answers: list[tuple[Any, Any]] = collect_customer_data.send(
        sender=WebhookEvent, shop_domain=shop_domain, customer_id=who.customer_id,
        event_ids=[e.pk for e in events], needles=sorted(who.needles),
    )
    for _receiver, answer in answers:
        if isinstance(answer, dict):
            sections.setdefault(answer["section"], []).extend(answer["items"])
    document = {
        "shop_domain": shop_domain,
        "customer": {"id": who.customer_id, "email": who.email, "phone": who.phone},
        "data_request_id": data_request_id,
        "generated_at": timezone.now().isoformat(),
        "events": [
            {
                "id": e.pk, "topic": e.topic, "webhook_id": e.webhook_id, "status": e.status,
                "received_at": e.received_at.isoformat(), "payload": e.payload,
            }
            for e in events
        ],
        **sections,
    }
    count = len(events) + sum(len(items) for items in sections.values())
    export, _ = CustomerDataExport.objects.update_or_create(
        event=request_event,
        defaults={
            "shop_domain": shop_domain, "customer_id": who.customer_id, "data_request_id": data_request_id,
            "document": document, "item_count": count,
        },
    )
    return export


def redact_customer(shop_domain: str, who: Customer) -> int:
    """Scrub the customer from every stored text of the shop; returns events changed."""
    now = timezone.now()
    found: set[str] = set(who.needles)
    scrubbed: dict[int, Any] = {}
    for event in mentioning_events(shop_domain, who):
        scrubbed[event.pk] = scrub_personal(event.payload, found)
    pattern = needle_pattern(found)
    changed = 0
    for event in WebhookEvent.objects.filter(shop_domain=shop_domain).order_by("pk").iterator(chunk_size=500):
        payload = replace_text(scrubbed.get(event.pk, event.payload), pattern)
        last_error = replace_text(event.last_error, pattern)
        if payload != event.payload or last_error != event.last_error:
            WebhookEvent.objects.filter(pk=event.pk).update(payload=payload, last_error=last_error, redacted_at=now)
            event.payload = payload
            # The index follows the payload: the erased e-mail and phone leave it.
            EventSubject.objects.index(event)
            changed += 1
    for attempt in EventAttempt.objects.filter(event__shop_domain=shop_domain).iterator(chunk_size=500):
        texts = {f: getattr(attempt, f) for f in ("error_message", "traceback", "summary")}
        clean = {f: replace_text(v, pattern) for f, v in texts.items()}
        if clean != texts:
            EventAttempt.objects.filter(pk=attempt.pk).update(**clean)
    # An export is nothing but this customer's data; others of the shop lose the needles.
    CustomerDataExport.objects.filter(shop_domain=shop_domain, customer_id=who.customer_id).delete()
    for export in CustomerDataExport.objects.filter(shop_domain=shop_domain):
        document = replace_text(export.document, pattern)
        if document != export.document:
            CustomerDataExport.objects.filter(pk=export.pk).update(document=document)
    customer_redacted.send(
        sender=WebhookEvent, shop_domain=shop_domain, customer_id=who.customer_id, needles=sorted(found)
    )
    return changed


def erase_shop(shop: Shop) -> int:
    """Erase every payload and error text of the shop; keep ids, topics, statuses, counts
    and times for audit. Returns the number of events erased."""
    now = timezone.now()
    erased = WebhookEvent.objects.filter(shop_domain=shop.domain).update(
        payload={}, last_error="", redacted_at=now, subjects_indexed_at=now
    )
    EventSubject.objects.filter(event__shop_domain=shop.domain).delete()
    EventAttempt.objects.filter(event__shop_domain=shop.domain).update(error_message="", traceback="")
    CustomerDataExport.objects.filter(shop_domain=shop.domain).delete()
    Shop.objects.filter(pk=shop.pk).update(offline_token_ciphertext="", redacted_at=now, updated_at=now)
    shop.refresh_from_db()
    shop_redacted.send(sender=WebhookEvent, shop_domain=shop.domain)
    return erased
