"""The forward handler: any topic routed (admin TopicRoute or WEBHOOK_FORWARD_ROUTES) to
a destination is POSTed there, re-signed, behind the destination's circuit breaker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhooks import forwarding
from webhooks.handlers.registry import ROUTE_RESOLVERS, HandlerContext, HandlerFunc

if TYPE_CHECKING:
    from webhooks.models import WebhookEvent


def forward_to_route(ctx: HandlerContext) -> str:
    dest = ctx.destination or forwarding.route_for(ctx.event)
    if dest is None:  # the route was removed between resolve and run
        raise forwarding.ForwardFailed(f"no forward route for {ctx.event.topic} any more")
    return forwarding.forward(ctx, dest)


# Outside work: runs before the outcome's transaction (see handlers/__init__.py).
forward_to_route.atomic = False  # type: ignore[attr-defined]


def resolve_route(event: WebhookEvent) -> HandlerFunc | None:
    return forward_to_route if forwarding.route_for(event) is not None else None


if resolve_route not in ROUTE_RESOLVERS:
    ROUTE_RESOLVERS.append(resolve_route)
