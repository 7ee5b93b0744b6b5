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
"""

from __future__ import annotations

from webhooks import privacy
from webhooks.compliance import ComplianceRequest
from webhooks.errors import PayloadInvalid, SuspiciousDelivery
from webhooks.handlers.registry import HandlerContext, handler


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
    tracked = ComplianceRequest.objects.opened(ctx.event, shop_domain=domain, customer_id=who.customer_id,
                                               request_id=request_id)
    export = privacy.build_export(domain, who, ctx.event, request_id)
    tracked.complete(export_id=export.pk, exported_items=export.item_count)
    return f"export {export.pk} for customer {who.customer_id}: {export.item_count} items"


@handler("customers/redact")
def customers_redact(ctx: HandlerContext) -> str:
    domain = signed_shop_domain(ctx)
    who = privacy.Customer.from_payload(ctx.event.payload)
    tracked = ComplianceRequest.objects.opened(ctx.event, shop_domain=domain, customer_id=who.customer_id)
    done = privacy.redact_customer(domain, who)
    tracked.complete(**done.evidence())
    return f"customer {who.customer_id} redacted from {done.events_scrubbed} events, {done.texts_scrubbed} texts"
