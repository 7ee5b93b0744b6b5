"""shop/redact: 48 hours after uninstall Shopify asks to erase the shop's data.

Payload: {"shop_id": 954889, "shop_domain": "x.myshopify.com"}. The shop erased is the
signed payload's (see webhooks.handlers.privacy.signed_shop_domain).
"""

from __future__ import annotations

from webhooks import privacy
from webhooks.handlers.privacy import signed_shop_domain, track
from webhooks.handlers.registry import HandlerContext, handler
from webhooks.models import Shop


@handler("shop/redact")
def shop_redact(ctx: HandlerContext) -> str:
    domain = signed_shop_domain(ctx)
    tracked = track(ctx.event, shop_domain=domain)
    shop = ctx.shop if ctx.shop is not None and ctx.shop.domain == domain else Shop.objects.get_or_create(domain=domain)[0]
    erased = privacy.erase_shop(shop)
    tracked.complete(events_erased=erased)
    return f"{shop.domain}: {erased} events erased, offline token dropped"
