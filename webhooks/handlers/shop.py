"""shop/redact: 48 hours after uninstall Shopify asks to erase the shop's data.

Payload: {"shop_id": 954889, "shop_domain": "x.myshopify.com"}
"""

from __future__ import annotations

from webhooks import privacy
from webhooks.errors import PayloadInvalid
from webhooks.handlers import HandlerContext, handler


@handler("shop/redact")
def shop_redact(ctx: HandlerContext) -> str:
    if ctx.shop is None:
        raise PayloadInvalid("shop/redact without a shop domain")
    erased = privacy.erase_shop(ctx.shop)
    return f"{ctx.shop.domain}: {erased} events erased, offline token dropped"
