"""Webhook intake: verify, store, acknowledge. No handler work happens here.

Order for every delivery: body length and size limit (411, 413), signature (401, nothing
stored but a counter), required headers and JSON (400), then one INSERT that ignores a
delivery already stored (with the ORM broker it writes the event's task too), committed
before the 200. A database that cannot be reached answers 503 so the provider retries; a
200 is never sent for an event that is not stored. What each check accepts is in
webhooks/intake.py; every refusal is counted (RejectedDelivery).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks import logcontext, textsafe, verify
from webhooks.intake import (
    STORED_HEADERS,
    Refusal,
    parse_json_object,
    parse_time,
    payload_text,
    read_body,
    required_header,
    unix_time,
)
from webhooks.models import WebhookEvent
from webhooks.processing import delivery_task, queue_is_transactional, send_task
from webhooks.store import count_rejection, insert_event

logger = logging.getLogger(__name__)

SHOP_DOMAIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,250}$")


def _field(name: str, value: Any) -> str:
    return textsafe.for_field(WebhookEvent, name, value)


def refuse(provider: str, refusal: Refusal) -> JsonResponse:
    """Every refusal is answered with its status and counted under its reason."""
    count_rejection(provider, refusal.reason)
    return JsonResponse({"error": refusal.message}, status=refusal.status)


def store_and_ack(values: dict[str, Any], started: float) -> JsonResponse:
    with logcontext.scope(webhook_id=values["webhook_id"]):
        return _store_and_ack(values, started)


def _store_and_ack(values: dict[str, Any], started: float) -> JsonResponse:
    values["ack_latency_ms"] = (time.perf_counter() - started) * 1000
    # The task is built before the INSERT. With the ORM broker it is written with the event
    # (one statement on PostgreSQL), so a 200 means stored AND queued. With Redis it is sent
    # after the commit; a lost send loses nothing, the sweeper finds events that were stored
    # but never picked up.
    queue = delivery_task(values["provider"], values["webhook_id"])
    in_database = queue_is_transactional()
    try:
        event_id = insert_event(queue=queue if in_database else None, **values)
    except DatabaseError:
        logger.exception("webhook %s not stored: database unavailable", values["webhook_id"])
        response = JsonResponse({"error": "temporarily unavailable, retry later"}, status=503)
        response["Retry-After"] = "5"
        return response
    if event_id is None:
        return JsonResponse({"status": "duplicate"})
    logcontext.bind(event_pk=event_id)
    if not in_database:
        send_task(queue[1], webhook_id=values["webhook_id"])
    return JsonResponse({"status": "stored", "id": event_id})


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def shopify_webhook(request: HttpRequest, topic: str | None = None) -> JsonResponse:
    started = time.perf_counter()
    try:
        body = read_body(request)
        secrets = (settings.SHOPIFY_API_SECRET, settings.SHOPIFY_API_SECRET_PREVIOUS)
        if not verify.shopify_hmac_valid(body, request.headers.get("X-Shopify-Hmac-Sha256"), secrets):
            raise Refusal(401, "bad_signature", "invalid or missing X-Shopify-Hmac-Sha256")
        limit = textsafe.limit_of
        header_topic = required_header(request, "X-Shopify-Topic", limit(WebhookEvent, "topic"))
        shop_domain = required_header(request, "X-Shopify-Shop-Domain", limit(WebhookEvent, "shop_domain"))
        webhook_id = required_header(request, "X-Shopify-Webhook-Id", limit(WebhookEvent, "webhook_id"))
        # Longer versions are cut to the column rather than refused (Shopify's are "2025-10").
        api_version = required_header(request, "X-Shopify-API-Version", 1000)
        if topic is not None and topic != header_topic:
            raise Refusal(400, "topic_mismatch", f"path topic {topic!r} does not match X-Shopify-Topic {header_topic!r}")
        if not SHOP_DOMAIN_RE.match(shop_domain):
            raise Refusal(400, "bad_header", "invalid X-Shopify-Shop-Domain")
        payload = parse_json_object(body)
    except Refusal as refusal:
        return refuse("shopify", refusal)
    return store_and_ack(
        {
            "provider": "shopify",
            "topic": header_topic,
            "shop_domain": shop_domain.lower(),
            "webhook_id": webhook_id,
            "event_id": _field("event_id", request.headers.get("X-Shopify-Event-Id") or ""),
            "api_version": _field("api_version", api_version),
            # Out of range (past year 9999 or before year 1 in UTC) or unparseable: dropped.
            "triggered_at": parse_time(request.headers.get("X-Shopify-Triggered-At")),
            "headers": STORED_HEADERS.apply(request.headers),
            "payload": payload,
            "synthetic": request.headers.get("X-Timedify-Synthetic") == "1",
        },
        started,
    )


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    try:
        body = read_body(request)
        problem = verify.stripe_signature_problem(
            body,
            request.headers.get("Stripe-Signature"),
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_TOLERANCE_SECONDS,
        )
        if problem:
            raise Refusal(401, "bad_signature", f"invalid Stripe-Signature: {problem}")
        payload = parse_json_object(body)
        event_id = payload_text(payload, "id", textsafe.limit_of(WebhookEvent, "webhook_id"))
        event_type = payload_text(payload, "type", textsafe.limit_of(WebhookEvent, "topic"))
    except Refusal as refusal:
        return refuse("stripe", refusal)
    account = payload.get("account")
    return store_and_ack(
        {
            "provider": "stripe",
            "topic": event_type,
            "shop_domain": _field("shop_domain", account) if isinstance(account, str) else "",
            "webhook_id": event_id,
            "event_id": _field("event_id", event_id),
            "api_version": _field("api_version", payload.get("api_version") or ""),
            "triggered_at": unix_time(payload.get("created")),
            "headers": STORED_HEADERS.apply(request.headers),
            "payload": payload,
        },
        started,
    )
