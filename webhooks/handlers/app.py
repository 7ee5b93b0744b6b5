"""app/uninstalled and app/scopes_update."""

from __future__ import annotations

from django.utils import timezone

from webhooks import textsafe
from webhooks.errors import PayloadInvalid
from webhooks.handlers.registry import HandlerContext, handler


@handler("app/uninstalled")
def app_uninstalled(ctx: HandlerContext) -> str:
    shop = ctx.shop
    if shop is None:
        raise PayloadInvalid("app/uninstalled without a shop domain")
    if not shop.installed and not shop.offline_token_ciphertext:
        return f"{shop.domain} was already uninstalled"
    shop.installed = False
    shop.uninstalled_at = ctx.event.triggered_at or timezone.now()
    shop.offline_token_ciphertext = ""
    shop.save(update_fields=["installed", "uninstalled_at", "offline_token_ciphertext", "updated_at"])
    return f"{shop.domain} marked uninstalled, offline token deleted"


def _scopes_from(payload: dict[str, object]) -> list[str]:
    current = payload.get("current")
    if isinstance(current, list) and all(isinstance(s, str) for s in current):
        return [str(s) for s in current]
    if isinstance(current, str):
        return [s.strip() for s in current.split(",") if s.strip()]
    raise PayloadInvalid("app/scopes_update payload has no 'current' list of scopes")


@handler("app/scopes_update")
def app_scopes_update(ctx: HandlerContext) -> str:
    shop = ctx.shop
    if shop is None:
        raise PayloadInvalid("app/scopes_update without a shop domain")
    scopes = _scopes_from(ctx.event.payload)
    shop.scopes = textsafe.for_field(type(shop), "scopes", ",".join(scopes))
    shop.scopes_updated_at = ctx.event.triggered_at or timezone.now()
    shop.save(update_fields=["scopes", "scopes_updated_at", "updated_at"])
    return f"{shop.domain} scopes now {shop.scopes or '(none)'}"
