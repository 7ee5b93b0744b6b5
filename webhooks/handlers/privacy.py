"""The mandatory customer privacy webhooks: customers/data_request and customers/redact.

Payloads (Shopify's documented shapes):
  {"shop_id": 954889, "shop_domain": "x.myshopify.com", "orders_requested": [299938],
   "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
   "data_request": {"id": 9999}}
  {"shop_id": 954889, "shop_domain": "x.myshopify.com",
   "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
   "orders_to_redact": [299938, 280263]}
"""

from __future__ import annotations

from webhooks import privacy
from webhooks.errors import PayloadInvalid
from webhooks.handlers import HandlerContext, handler


def _shop_domain(ctx: HandlerContext) -> str:
    domain = ctx.event.shop_domain or str(ctx.event.payload.get("shop_domain") or "")
    if not domain:
        raise PayloadInvalid(f"{ctx.event.topic} without a shop domain")
    return domain.lower()


@handler("customers/data_request")
def customers_data_request(ctx: HandlerContext) -> str:
    who = privacy.Customer.from_payload(ctx.event.payload)
    request = ctx.event.payload.get("data_request")
    request_id = str(request.get("id", "")) if isinstance(request, dict) else ""
    export = privacy.build_export(_shop_domain(ctx), who, ctx.event, request_id)
    return f"export {export.pk} for customer {who.customer_id}: {export.item_count} items"


@handler("customers/redact")
def customers_redact(ctx: HandlerContext) -> str:
    who = privacy.Customer.from_payload(ctx.event.payload)
    changed = privacy.redact_customer(_shop_domain(ctx), who)
    return f"customer {who.customer_id} redacted from {changed} events"
