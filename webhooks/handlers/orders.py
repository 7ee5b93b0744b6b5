"""orders/create: forwarded to the app's own endpoint (APP_WEBHOOK_URL)."""

from __future__ import annotations

from django.conf import settings

from webhooks import forwarding
from webhooks.errors import PermanentError
from webhooks.handlers.registry import HandlerContext, handler


@handler("orders/create", atomic=False)
def orders_create(ctx: HandlerContext) -> str:
    if ctx.destination is not None:  # a replay sent elsewhere (e.g. a fixed build of the app)
        return forwarding.forward(ctx, ctx.destination)
    url: str = settings.APP_WEBHOOK_URL
    if not url:
        raise PermanentError(
            "orders/create is forwarded to the app, but APP_WEBHOOK_URL is not set: set it "
            "(or route the topic to a destination in the admin) and replay this event"
        )
    return forwarding.forward(ctx, forwarding.destination_for_url(url, "app"))
