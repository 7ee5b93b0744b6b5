"""Finding, exporting and erasing one customer's (or one shop's) personal data.

Shopify's mandatory privacy webhooks name a customer by id, e-mail and phone (and the
orders to redact). The customer's events are found through the subject index (plus the
shop's events not indexed yet, read one by one): `customer_events`. A data request exports
exactly those; a redaction erases, inside each, the objects that belong to the customer
(webhooks.erasure), and then removes the identifying strings it erased (e-mails, phones,
full names) from our own free texts: last errors, attempts, other exports here, and, via
the `customer_redacted` signal, the dead letters, replay records and reports, job runs,
the admin log and django-q2's task rows. docs/handlers.md lists every place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from webhooks import indexer, subjects, textsafe
from webhooks.erasure import ERASED, Found, Owner, erase_owned, scrub_texts
from webhooks.errors import PayloadInvalid
from webhooks.models import AttemptOutcome, CustomerDataExport, EventAttempt, EventStatus, Shop, WebhookEvent
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted
from webhooks.subject_index import EventSubject, pairs_q

# Where error texts can be: events not (yet) successful, attempts that failed or waited.
WITH_ERRORS = (EventStatus.RECEIVED, EventStatus.PROCESSING, EventStatus.FAILED, EventStatus.DEAD)
FAILED_ATTEMPTS = (AttemptOutcome.FAILED, AttemptOutcome.DEFERRED)

__all__ = ["ERASED", "Customer", "build_export", "customer_events", "erase_shop", "find_customer", "redact_customer"]


@dataclass
class Customer(Owner):
    """The customer a privacy request is about."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Customer:
        customer = payload.get("customer")
        cid = subjects.normalise(subjects.CUSTOMER_ID, customer.get("id")) if isinstance(customer, dict) else None
        if not isinstance(customer, dict) or cid is None:
            raise PayloadInvalid("payload has no customer.id")
        orders = payload.get("orders_to_redact") or payload.get("orders_requested") or []
        order_ids = {subjects.normalise(subjects.ORDER_ID, o) for o in orders} if isinstance(orders, list) else set()
        return cls(
            customer_id=cid,
            email=str(customer.get("email") or "").strip(),
            phone=str(customer.get("phone") or "").strip(),
            order_ids={o for o in order_ids if o is not None},
        )

    def pairs(self, order_ids: set[str] | None = None) -> list[tuple[str, Any]]:
        """The subject-index keys that lead to this customer's events."""
        pairs: list[tuple[str, Any]] = [(subjects.CUSTOMER_ID, self.customer_id)]
        pairs += [(kind, value) for kind, value in ((subjects.EMAIL, self.email), (subjects.PHONE, self.phone)) if value]
        return pairs + [(subjects.ORDER_ID, o) for o in sorted(order_ids if order_ids is not None else self.order_ids)]


def _events(shop_domain: str, pairs: list[tuple[str, Any]], exclude: set[int]) -> list[WebhookEvent]:
    """The shop's events the index lists under any of `pairs`, and its unindexed events
    whose payload mentions one of them (read one by one: few, those still waiting)."""
    keys = {(kind, subjects.normalise(kind, value)) for kind, value in pairs}
    shop_events = WebhookEvent.objects.filter(shop_domain=shop_domain).exclude(pk__in=exclude)
    # Unindexed events first, in keyset pages along the partial index of unindexed ids: few
    # once the backfill has run, and never all in memory at once before it has. First, so
    # that an event a worker indexes meanwhile is seen by one of the two reads.
    found: list[WebhookEvent] = []
    after = 0
    while page := list(shop_events.unindexed().filter(pk__gt=after).order_by("pk")[:500]):
        after = page[-1].pk
        found += [e for e in page if any((s.kind, s.value) in keys for s in subjects.extract(e.topic, e.payload))]
    # Then the ids from the index alone: a subquery may be planned as a scan of every
    # event of the shop, and a shop can hold millions.
    query = pairs_q(pairs)
    ids = list(EventSubject.objects.filter(query).values_list("event_id", flat=True).distinct()) if query else []
    ids = sorted(set(ids) - {e.pk for e in found})
    found += list(shop_events.filter(pk__in=ids).order_by("pk")) if ids else []
    found.sort(key=lambda e: e.pk)
    return found


def find_customer(shop_domain: str, who: Customer) -> tuple[list[WebhookEvent], set[str]]:
    """Every stored event of the shop that mentions the customer, and the ids of their
    orders: by id, e-mail or phone, or one of the orders of the request; then, once, the
    events naming only an order found to be theirs (refunds, fulfillments). The one finder
    of both a data request and a redaction, so an export holds what a redaction erases."""
    owner = Owner(who.customer_id, who.email, who.phone, set(who.order_ids))
    found: list[WebhookEvent] = []
    seen: set[int] = set()
    pairs = who.pairs()
    for _round in range(2):
        probe = Found()
        for event in _events(shop_domain, pairs, seen):
            seen.add(event.pk)
            found.append(event)
            erase_owned(event.topic, event.payload, owner, probe, erase=False)
        new_orders = probe.order_ids - owner.order_ids
        if not new_orders:
            break
        owner.order_ids |= new_orders
        pairs = [(subjects.ORDER_ID, o) for o in sorted(new_orders)]
    return found, owner.order_ids


def customer_events(shop_domain: str, who: Customer) -> list[WebhookEvent]:
    """The customer's events (`find_customer`): what a data request exports."""
    return find_customer(shop_domain, who)[0]


def build_export(shop_domain: str, who: Customer, request_event: WebhookEvent, data_request_id: str) -> CustomerDataExport:
    """Collect what is stored about the customer into one export row (rebuilt, never
    duplicated, when the same request is processed again)."""
    events = [e for e in customer_events(shop_domain, who) if e.pk != request_event.pk]
    sections: dict[str, list[dict[str, Any]]] = {}
    answers: list[tuple[Any, Any]] = collect_customer_data.send(
        sender=WebhookEvent, shop_domain=shop_domain, customer_id=who.customer_id, event_ids=[e.pk for e in events],
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
            "shop_domain": textsafe.for_field(CustomerDataExport, "shop_domain", shop_domain),
            "customer_id": textsafe.for_field(CustomerDataExport, "customer_id", who.customer_id),
            "data_request_id": textsafe.for_field(CustomerDataExport, "data_request_id", data_request_id),
            "document": document, "item_count": count,
        },
    )
    return export


@dataclass
class Redaction:
    """What a customers/redact did, without personal data: the evidence it leaves."""

    events_scrubbed: int = 0
    texts_scrubbed: int = 0
    exports_deleted: int = 0

    def evidence(self) -> dict[str, int]:
        return {"events_scrubbed": self.events_scrubbed, "texts_scrubbed": self.texts_scrubbed,
                "exports_deleted": self.exports_deleted}


def redact_customer(shop_domain: str, who: Customer) -> Redaction:
    """Erase the customer from the shop's stored data (the module docstring says where)."""
    now = timezone.now()
    result = Redaction()
    found = Found(emails={who.email} if who.email else set(), phones={who.phone} if who.phone else set())
    events, order_ids = find_customer(shop_domain, who)
    owner = Owner(who.customer_id, who.email, who.phone, order_ids)
    # Erased under the rows' locks, from payloads read again under them: a worker indexes
    # an event it claimed under the same lock (indexer.index_claimed_event), so it
    # either indexes before this erases (and this re-indexes) or reads what this erased.
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().filter(pk__in=[e.pk for e in events]).order_by("pk")
        changed = [event for event in locked if erase_owned(event.topic, event.payload, owner, found)]
        for event in changed:
            event.redacted_at = now
        WebhookEvent.objects.bulk_update(changed, ["payload", "redacted_at"], batch_size=100)
        indexer.reindex(changed)  # the erased e-mails and phones leave the index
    result.events_scrubbed = len(changed)
    needles = sorted(found.needles)
    # Error texts live on events that did not succeed (success clears last_error) and on
    # failed or deferred attempts, each found through an index: a few rows among millions.
    # Handlers' summaries of successful attempts name ids and counts only.
    unsuccessful = WebhookEvent.objects.filter(shop_domain=shop_domain, status__in=WITH_ERRORS)
    result.texts_scrubbed += scrub_texts(unsuccessful, ["last_error"], needles)
    result.texts_scrubbed += scrub_texts(
        EventAttempt.objects.filter(outcome__in=FAILED_ATTEMPTS, event__shop_domain=shop_domain),
        ["error_message", "traceback", "summary"], needles,
    )
    # An export is nothing but this customer's data; others of the shop lose the needles.
    result.exports_deleted, _ = CustomerDataExport.objects.filter(
        shop_domain=shop_domain, customer_id=who.customer_id
    ).delete()
    result.texts_scrubbed += scrub_texts(CustomerDataExport.objects.filter(shop_domain=shop_domain), ["document"], needles)
    answers: list[tuple[Any, Any]] = customer_redacted.send(
        sender=WebhookEvent, shop_domain=shop_domain, customer_id=who.customer_id, needles=needles,
        event_ids=sorted(e.pk for e in events),
    )
    result.texts_scrubbed += sum(int(answer) for _receiver, answer in answers if isinstance(answer, int))
    return result


def erase_shop(shop: Shop) -> int:
    """Erase every payload and error text of the shop; keep ids, topics, statuses, counts
    and times for audit. Returns the number of events erased."""
    now = timezone.now()
    erased = WebhookEvent.objects.filter(shop_domain=shop.domain).update(
        payload={}, last_error="", redacted_at=now, subjects_indexed_at=now
    )
    EventSubject.objects.filter(event__shop_domain=shop.domain).delete()
    EventAttempt.objects.filter(event__shop_domain=shop.domain).update(error_message="", traceback="", summary="")
    CustomerDataExport.objects.filter(shop_domain=shop.domain).delete()
    Shop.objects.filter(pk=shop.pk).update(offline_token_ciphertext="", redacted_at=now, updated_at=now)
    shop.refresh_from_db()
    shop_redacted.send(sender=WebhookEvent, shop_domain=shop.domain)
    return erased
