"""Webhook intake: verify, store, acknowledge. No handler work happens here.

Order for every delivery: size limit (413), signature (401, nothing stored but a counter),
required headers and JSON (400), then one INSERT that ignores a delivery already stored
(with the ORM broker it writes the event's task too), committed before the 200. A database that cannot be reached answers 503 so the provider
retries; a 200 is never sent for an event that is not stored.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks import logcontext, textsafe, verify
from webhooks.jsonwalk import map_strings
from webhooks.processing import delivery_task, queue_is_transactional, send_task
from webhooks.store import count_rejection, insert_event

logger = logging.getLogger(__name__)

SHOP_DOMAIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,250}$")
# Headers worth keeping for support; everything else (cookies, auth) is dropped.
KEPT_HEADER_PREFIXES = ("x-shopify-", "stripe-", "user-agent", "content-type", "content-length")
REDACTED_HEADERS = {"x-shopify-hmac-sha256", "stripe-signature"}
REDACTED = "[redacted]"


class Refusal(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def redacted_headers(request: HttpRequest) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower.startswith(KEPT_HEADER_PREFIXES):
            kept[name] = REDACTED if lower in REDACTED_HEADERS else value[:1000]
    return kept


def read_body(request: HttpRequest) -> bytes:
    limit: int = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refusal(400, "bad_request", "invalid Content-Length") from None
    if declared > limit:
        raise Refusal(413, "too_large", f"body larger than {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise Refusal(413, "too_large", f"body larger than {limit} bytes")
    return body


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _storable(value: Any) -> Any:
    """NUL and lone surrogates (only reachable through \\u escapes) replaced by U+FFFD:
    PostgreSQL's jsonb and SQLite's JSON check refuse them, and the event must be kept."""
    return map_strings(value, textsafe.clean_unlimited)


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
        # NaN, Infinity and 1e400 parse in Python but no database stores them: refuse
        # them here (400) rather than fail the INSERT (500 on SQLite, 503 forever on PostgreSQL).
        payload = json.loads(text, parse_float=_finite, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "bad_json", "body is not valid UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise Refusal(400, "bad_json", "body must be a JSON object")
    lowered = text.lower()
    if "\\u0000" in lowered or "\\ud" in lowered:
        payload = _storable(payload)
    return payload


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_time(value: object) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def refuse(provider: str, refusal: Refusal) -> JsonResponse:
    if refusal.status in (401, 413) or refusal.reason in ("bad_json", "missing_header", "topic_mismatch"):
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
        required = {}
        for header in ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-API-Version"):
            value = (request.headers.get(header) or "").strip()
            if not value:
                raise Refusal(400, "missing_header", f"missing header {header}")
            required[header] = value
        header_topic = required["X-Shopify-Topic"]
        if topic is not None and topic != header_topic:
            raise Refusal(400, "topic_mismatch", f"path topic {topic!r} does not match X-Shopify-Topic {header_topic!r}")
        if not SHOP_DOMAIN_RE.match(required["X-Shopify-Shop-Domain"]):
            raise Refusal(400, "missing_header", "invalid X-Shopify-Shop-Domain")
        if len(required["X-Shopify-Webhook-Id"]) > 255 or len(header_topic) > 100:
            raise Refusal(400, "missing_header", "header value too long")
        payload = parse_json_object(body)
    except Refusal as refusal:
        return refuse("shopify", refusal)
    return store_and_ack(
        {
            "provider": "shopify",
            "topic": header_topic,
            "shop_domain": required["X-Shopify-Shop-Domain"].lower(),
            "webhook_id": required["X-Shopify-Webhook-Id"],
            "event_id": (request.headers.get("X-Shopify-Event-Id") or "")[:255],
            "api_version": required["X-Shopify-API-Version"][:20],
            "triggered_at": parse_time(request.headers.get("X-Shopify-Triggered-At")),
            "headers": redacted_headers(request),
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
        event_id, event_type = payload.get("id"), payload.get("type")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
            raise Refusal(400, "bad_json", "event has no string id")
        if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
            raise Refusal(400, "bad_json", "event has no string type")
    except Refusal as refusal:
        return refuse("stripe", refusal)
    account = payload.get("account")
    return store_and_ack(
        {
            "provider": "stripe",
            "topic": event_type,
            "shop_domain": account[:255] if isinstance(account, str) else "",
            "webhook_id": event_id,
            "event_id": event_id,
            "api_version": str(payload.get("api_version") or "")[:20],
            "triggered_at": unix_time(payload.get("created")),
            "headers": redacted_headers(request),
            "payload": payload,
        },
        started,
    )
