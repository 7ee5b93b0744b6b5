"""The mandatory customer privacy webhooks: customers/data_request and customers/redact.

Payloads (Shopify's documented shapes):
  {"shop_id": 954889, "shop_domain": "x.myshopify.com", "orders_requested": [299938],
   "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
   "data_request": {"id": 9999}}
  {"shop_id": 954889, "shop_domain": "x.myshopify.com",
   "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
   "orders_to_redact": [299938, 280263]}

Each request acts on the shop named by the signed payload's `shop_domain`. The
X-Shopify-Shop-Domain header is not covered by the signature: one that disagrees makes the
delivery suspicious, and it is dead-lettered without acting on either shop.

Every request, shop/redact's too, is tracked in webhooks.compliance's table: `track` opens
its row in the handler's transaction, `request_failed` marks it failed when its event dies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.dispatch import receiver
from django.utils import timezone

from webhooks import privacy, textsafe
from webhooks.compliance import DUE_DAYS, TOPICS, ComplianceRequest, RequestStatus
from webhooks.errors import PayloadInvalid, SuspiciousDelivery
from webhooks.handlers.registry import HandlerContext, handler
from webhooks.signals import event_dead

if TYPE_CHECKING:
    from webhooks.models import WebhookEvent


def track(event: WebhookEvent, *, shop_domain: str, customer_id: str = "", request_id: str = "") -> ComplianceRequest:
    """The compliance row (webhooks.compliance) of this request's event, created pending if
    it is new."""
    row, _ = ComplianceRequest.objects.get_or_create(
        event=event,
        defaults={
            "shop_domain": shop_domain, "kind": event.topic, "customer_id": customer_id,
            "shopify_request_id": request_id, "received_at": event.received_at,
            "due_at": event.received_at + timedelta(days=DUE_DAYS),
        },
    )
    return row


@receiver(event_dead, dispatch_uid="webhooks.handlers.privacy.request_failed")
def request_failed(sender: type, event: WebhookEvent, result: Any, **kwargs: Any) -> None:
    """A privacy request whose event died is failed: its handler's work was rolled back."""
    if event.topic not in TOPICS:
        return
    payload = event.payload if isinstance(event.payload, dict) else {}
    customer = payload.get("customer")
    row = track(
        event,
        shop_domain=textsafe.for_field(ComplianceRequest, "shop_domain", payload.get("shop_domain") or event.shop_domain),
        customer_id=textsafe.for_field(ComplianceRequest, "customer_id", customer.get("id") or "")
        if isinstance(customer, dict) else "",
    )
    ComplianceRequest.objects.filter(pk=row.pk).exclude(status=RequestStatus.DONE).update(
        status=RequestStatus.FAILED, error_class=textsafe.for_field(ComplianceRequest, "error_class", result.error_class),
        updated_at=timezone.now(),
    )


def signed_shop_domain(ctx: HandlerContext) -> str:
    """The payload's shop_domain, checked against the header the event was stored under."""
    signed = ctx.event.payload.get("shop_domain") if isinstance(ctx.event.payload, dict) else None
    if not isinstance(signed, str) or not signed.strip():
        raise PayloadInvalid(f"{ctx.event.topic} payload has no shop_domain")
    domain = signed.strip().lower()
    header = ctx.event.shop_domain.strip().lower()
    if header and header != domain:
        raise SuspiciousDelivery(
            f"{ctx.event.topic}: the X-Shopify-Shop-Domain header {header!r} disagrees with the signed "
            f"payload's shop_domain {domain!r}; nothing was done"
        )
    return domain


@handler("customers/data_request")
def customers_data_request(ctx: HandlerContext) -> str:
    domain = signed_shop_domain(ctx)
    who = privacy.Customer.from_payload(ctx.event.payload)
    request = ctx.event.payload.get("data_request")
    request_id = str(request.get("id", ""))[:64] if isinstance(request, dict) else ""
    tracked = track(ctx.event, shop_domain=domain, customer_id=who.customer_id, request_id=request_id)
    export = privacy.build_export(domain, who, ctx.event, request_id)
    tracked.complete(export_id=export.pk, exported_items=export.item_count)
    return f"export {export.pk} for customer {who.customer_id}: {export.item_count} items"


@handler("customers/redact")
def customers_redact(ctx: HandlerContext) -> str:
    domain = signed_shop_domain(ctx)
    who = privacy.Customer.from_payload(ctx.event.payload)
    tracked = track(ctx.event, shop_domain=domain, customer_id=who.customer_id)
    done = privacy.redact_customer(domain, who)
    tracked.complete(**done.evidence())
    return f"customer {who.customer_id} redacted from {done.events_scrubbed} events, {done.texts_scrubbed} texts"
