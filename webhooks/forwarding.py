"""Forwarding an event's body to an HTTP destination, re-signed, behind its circuit breaker.

Routing: a TopicRoute (admin) wins over WEBHOOK_FORWARD_ROUTES (settings); orders/create
goes to APP_WEBHOOK_URL through its built-in handler. A settings URL gets a
ForwardDestination row of its own on first use, so its breaker is stored and visible too.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from webhooks.errors import PermanentError, RetryLater
from webhooks.models import ForwardDestination, TopicRoute
from webhooks.verify import shopify_signature

if TYPE_CHECKING:
    from webhooks.handlers.registry import HandlerContext
    from webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

# Response bodies are read for the error message only; the rest is not our business.
MAX_RESPONSE_BYTES = 64 * 1024
HEADER_NAMES = {
    "x-shopify-topic": "X-Shopify-Topic",
    "x-shopify-shop-domain": "X-Shopify-Shop-Domain",
    "x-shopify-webhook-id": "X-Shopify-Webhook-Id",
    "x-shopify-api-version": "X-Shopify-API-Version",
    "x-shopify-event-id": "X-Shopify-Event-Id",
    "x-shopify-triggered-at": "X-Shopify-Triggered-At",
}


class ForwardFailed(Exception):
    """The destination did not take the delivery (non-2xx, timeout, refused). Retried."""


def destination_for_url(url: str, name: str) -> ForwardDestination:
    """The destination row for a URL from settings, created on first use."""
    found = ForwardDestination.objects.filter(url=url).order_by("pk").first()
    if found:
        return found
    dest, _ = ForwardDestination.objects.get_or_create(name=name[:100], defaults={"url": url})
    if dest.url != url:  # the setting changed: follow it
        dest.url = url
        dest.save(update_fields=["url", "updated_at"])
    return dest


_ROUTED_TOPICS: tuple[float, frozenset[str]] | None = None


def routed_topics() -> frozenset[str]:
    """Topics with an enabled route, read at most every WEBHOOK_ROUTE_CACHE_SECONDS per
    process (and at once in the process that saved or deleted a route): most events have
    no route, and this spares each of them a query."""
    global _ROUTED_TOPICS
    now = time.monotonic()
    if _ROUTED_TOPICS is None or now - _ROUTED_TOPICS[0] >= settings.WEBHOOK_ROUTE_CACHE_SECONDS:
        _ROUTED_TOPICS = (now, frozenset(TopicRoute.objects.filter(enabled=True).values_list("topic", flat=True)))
    return _ROUTED_TOPICS[1]


@receiver([post_save, post_delete], sender=TopicRoute)
def forget_routed_topics(**kwargs: object) -> None:
    global _ROUTED_TOPICS
    _ROUTED_TOPICS = None


def route_for(event: WebhookEvent) -> ForwardDestination | None:
    """Where an event's topic is routed, or None to use its built-in handler."""
    if event.provider != "shopify":
        return None
    if event.topic in routed_topics():
        # The route and its destination are read fresh: pause, resume and the breaker apply
        # to the very next attempt.
        route = TopicRoute.objects.filter(topic=event.topic, enabled=True).select_related("destination").first()
        if route is not None:
            return route.destination
    url = settings.WEBHOOK_FORWARD_ROUTES.get(event.topic)
    if url:
        return destination_for_url(url, f"settings: {event.topic}")
    return None


def signed_request(event: WebhookEvent) -> tuple[bytes, dict[str, str]]:
    """The body and Shopify headers as Shopify would send them, with a fresh HMAC."""
    secret: str = settings.SHOPIFY_API_SECRET
    if not secret:
        raise PermanentError("SHOPIFY_API_SECRET is empty: forwarded deliveries cannot be signed")
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "X-Shopify-Topic": event.topic,
        "X-Shopify-Shop-Domain": event.shop_domain,
        "X-Shopify-Webhook-Id": event.webhook_id,
        "X-Shopify-API-Version": event.api_version,
        "X-Shopify-Event-Id": event.event_id,
    }
    for name, value in (event.headers or {}).items():
        canonical = HEADER_NAMES.get(name.lower())
        if canonical and value:
            headers[canonical] = value
    headers = {k: v for k, v in headers.items() if v}
    headers["Content-Type"] = "application/json"
    headers["X-Shopify-Hmac-Sha256"] = shopify_signature(body, secret)
    return body, headers


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    """POST exactly once, with a connect timeout and a deadline on the whole exchange:
    `requests` only bounds each socket read, so the body is streamed and the clock checked
    between reads. Once: no redirect is followed and `requests.post` retries nothing (its
    adapter's max_retries is 0), so the POSTs one event causes are bounded by its attempts
    (docs/handlers.md, "Bounded side effects")."""
    total: float = settings.FORWARD_TIMEOUT
    deadline = time.monotonic() + total
    response = requests.post(
        url, data=body, headers=headers, timeout=(settings.FORWARD_CONNECT_TIMEOUT, total), stream=True,
        allow_redirects=False,
    )
    try:
        chunks, size = [], 0
        for chunk in response.iter_content(8192):
            if time.monotonic() > deadline:
                raise requests.Timeout(f"no complete answer within {total:g} s")
            size += len(chunk)
            if size <= MAX_RESPONSE_BYTES:
                chunks.append(chunk)
        response._content = b"".join(chunks)[:MAX_RESPONSE_BYTES]
    finally:
        response.close()
    return response


def forward(ctx: HandlerContext, dest: ForwardDestination) -> str:
    """Deliver the event to `dest`. Safe to run twice: the receiver gets the same
    X-Shopify-Webhook-Id and dedupes, as it must with Shopify's own retries."""
    if ctx.dry_run:
        dest.refresh_from_db()
        state = "paused" if dest.paused else dest.state
        return f"dry run: would POST to {dest.url} (breaker {state}); nothing sent"
    body, headers = signed_request(ctx.event)
    probe = dest.admit()
    started = time.perf_counter()
    try:
        response = post(dest.url, body, headers)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    else:
        if 200 <= response.status_code < 300:
            dest.record_success()
            ms = (time.perf_counter() - started) * 1000
            return f"forwarded to {dest.name} ({dest.url}): {response.status_code} in {ms:.0f} ms" + (
                " (probe closed the breaker)" if probe else ""
            )
        snippet = response.text[:200].replace("\n", " ")
        error = f"HTTP {response.status_code} from {dest.url}: {snippet}"
    # The destination is shared by every shop and no redaction scrubs it: it keeps the
    # error without the response body, which may quote a customer. The event's attempt
    # (scrubbed with its shop) keeps the whole error.
    if dest.record_failure(error.split(": ", 1)[0] if error.startswith("HTTP ") else error):
        # The breaker is open now: the event waits for the probe instead of burning its
        # retries (and dying) against an endpoint known to be down.
        raise RetryLater(dest.reopen_at(), f"destination {dest.name!r}: circuit opened after {error}", waiting_for=dest.waiting_key)
    raise ForwardFailed(error)

