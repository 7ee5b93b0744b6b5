"""Synthetic deliveries: one signed Shopify webhook per handled topic, marked synthetic
(header X-Timedify-Synthetic: 1, webhook id prefixed `synthetic-`) so the SLO figures
leave them out. Used by the synthetic_webhook_test command."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from webhooks.handlers import handled_topics
from webhooks.models import EventStatus, WebhookEvent
from webhooks.verify import shopify_signature

DEFAULT_TARGET = "http://127.0.0.1:8000"
SYNTHETIC_SHOP = "timedify-synthetic.myshopify.com"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FINISHED = {EventStatus.PROCESSED, EventStatus.IGNORED}


@dataclass
class Delivery:
    topic: str
    webhook_id: str
    status_code: int | None = None
    error: str = ""
    stored: bool | None = None
    final_status: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def endpoint(target: str) -> str:
    """A bare host (http://host:port or .../) means this console's Shopify intake path."""
    parts = urlsplit(target)
    if parts.path in ("", "/"):
        return target.rstrip("/") + "/webhooks/shopify/"
    return target


def is_local(target: str) -> bool:
    return (urlsplit(target).hostname or "") in LOOPBACK


def payload_for(topic: str, n: int) -> dict[str, Any]:
    """A small payload each built-in handler accepts; unknown topics get a generic one."""
    customer = {"id": 900000 + n, "email": "synthetic@example.invalid", "phone": None}
    payloads: dict[str, dict[str, Any]] = {
        "app/scopes_update": {"id": n, "previous": ["read_orders"], "current": ["read_orders"]},
        "customers/data_request": {
            "shop_id": 1, "shop_domain": SYNTHETIC_SHOP, "customer": customer,
            "orders_requested": [], "data_request": {"id": n},
        },
        "customers/redact": {"shop_id": 1, "shop_domain": SYNTHETIC_SHOP, "customer": customer, "orders_to_redact": []},
        "shop/redact": {"shop_id": 1, "shop_domain": SYNTHETIC_SHOP},
    }
    return payloads.get(topic, {"id": n, "synthetic": True})


def send(target: str, topic: str, n: int, *, timeout: float = 5.0) -> Delivery:
    delivery = Delivery(topic=topic, webhook_id=f"synthetic-{uuid.uuid4()}")
    body = json.dumps(payload_for(topic, n)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SYNTHETIC_SHOP,
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-Event-Id": delivery.webhook_id,
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        "X-Shopify-Hmac-Sha256": shopify_signature(body, settings.SHOPIFY_API_SECRET),
        "X-Timedify-Synthetic": "1",
    }
    try:
        response = requests.post(endpoint(target), data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        delivery.error = f"{type(exc).__name__}: {exc}"[:200]
        delivery.problems.append(f"not delivered: {delivery.error}")
        return delivery
    delivery.status_code = response.status_code
    if not 200 <= response.status_code < 300:
        delivery.problems.append(f"answered {response.status_code}")
    return delivery


def run(target: str, *, check_store: bool, wait_processed: float, worker_running: bool) -> list[Delivery]:
    """Send one delivery per handled topic; when the target is this console, check that
    each was stored as synthetic and (with a worker running) processed in time."""
    deliveries = [send(target, topic, n) for n, topic in enumerate(handled_topics(), start=1)]
    if not check_store:
        return deliveries
    sent = {d.webhook_id: d for d in deliveries if d.status_code and 200 <= d.status_code < 300}
    stored = dict(
        WebhookEvent.objects.filter(provider="shopify", webhook_id__in=list(sent), synthetic=True).values_list(
            "webhook_id", "status"
        )
    )
    for webhook_id, d in sent.items():
        d.stored = webhook_id in stored
        if not d.stored:
            d.problems.append("not stored as a synthetic event")
    if not worker_running:
        return deliveries
    deadline = time.monotonic() + wait_processed
    waiting = {w for w in stored}
    while waiting and time.monotonic() < deadline:
        time.sleep(0.25)
        rows = dict(WebhookEvent.objects.filter(webhook_id__in=list(waiting)).values_list("webhook_id", "status"))
        for webhook_id, status in rows.items():
            sent[webhook_id].final_status = status
            if status in FINISHED or status in (EventStatus.FAILED, EventStatus.DEAD):
                waiting.discard(webhook_id)
    for webhook_id in stored:
        d = sent[webhook_id]
        if webhook_id in waiting:
            d.problems.append(f"not processed within {wait_processed:g} s (still {d.final_status or 'received'})")
        elif d.final_status not in FINISHED:
            d.problems.append(f"processing ended {d.final_status}")
    return deliveries
