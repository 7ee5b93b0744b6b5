"""Demo data for a new console: shops, a week of deliveries, real failures.

Every event goes through the real intake store and the real processing path (with no
back-off pauses), so processed, ignored and dead events, their attempt timelines and the
dead letters' tracebacks are exactly what production would record.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from deadletters.models import DeadLetter
from webhooks import processing
from webhooks.models import EventAttempt, WebhookEvent
from webhooks.store import insert_event

SHOPS = ["aurora-outfitters", "bluebird-coffee", "cedar-and-pine", "dune-surf-co", "ember-ceramics"]
FIRST = ["Ada", "Bruno", "Chloe", "Dmitri", "Esme", "Farid", "Greta", "Hiro"]
LAST = ["Nakamura", "Okafor", "Lindqvist", "Moreau", "Silva", "Kowalski"]


def _customer(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "id": rng.randrange(10**12, 10**13),
        "email": f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com",
        "phone": f"+1555{rng.randrange(10**6, 10**7)}",
        "first_name": first,
        "last_name": last,
    }


def _payload(topic: str, domain: str, rng: random.Random, broken: bool) -> dict[str, Any]:
    customer = _customer(rng)
    shop_id = rng.randrange(10**8, 10**9)
    if topic == "orders/create":
        return {
            "id": rng.randrange(10**15, 10**16),
            "name": f"#{rng.randrange(1000, 9999)}",
            "email": customer["email"],
            "currency": "USD",
            "total_price": f"{rng.uniform(12, 480):.2f}",
            "customer": customer,
            "line_items": [{"id": rng.randrange(10**9), "title": "Stoneware mug", "quantity": rng.randrange(1, 4)}],
            "shipping_address": {"first_name": customer["first_name"], "address1": "12 Harbour Rd", "city": "Portland"},
        }
    if topic == "app/scopes_update":
        current: Any = 42 if broken else ["read_orders", "write_products", "read_customers"]
        return {"id": shop_id, "previous": ["read_orders"], "current": current, "updated_at": timezone.now().isoformat()}
    if topic == "app/uninstalled":
        return {"id": shop_id, "name": domain.split(".")[0], "domain": domain, "myshopify_domain": domain}
    if topic == "customers/data_request":
        return {
            "shop_id": shop_id, "shop_domain": domain, "orders_requested": [],
            "customer": {k: customer[k] for k in ("id", "email", "phone")},
            "data_request": {"id": rng.randrange(10**4)},
        }
    if topic == "customers/redact":
        return {
            "shop_id": shop_id, "shop_domain": domain,
            "customer": {k: customer[k] for k in ("id", "email", "phone")}, "orders_to_redact": [],
        }
    return {"id": rng.randrange(10**12), "title": "Speckled bowl", "vendor": domain.split(".")[0]}


# topic -> relative weight; products/update has no handler (ignored), a few scopes updates
# carry a malformed payload (a real PayloadInvalid from the real handler).
MIX = [
    ("products/update", 14),
    ("orders/create", 3),
    ("app/scopes_update", 20),
    ("customers/data_request", 4),
    ("customers/redact", 3),
    ("app/uninstalled", 2),
]


def seed(count: int = 240, *, days: int = 7, seed_value: int = 7) -> dict[str, int]:
    rng = random.Random(seed_value)
    topics = [t for t, w in MIX for _ in range(w)]
    created: list[tuple[int, timedelta]] = []
    for i in range(count):
        topic = rng.choice(topics)
        domain = f"{rng.choice(SHOPS)}.myshopify.com"
        broken = topic == "app/scopes_update" and rng.random() < 0.2
        age = timedelta(seconds=rng.uniform(60, days * 86400))
        event_id = insert_event(
            provider="shopify",
            topic=topic,
            shop_domain=domain,
            webhook_id=f"demo-{uuid.UUID(int=rng.getrandbits(128))}",
            event_id=str(uuid.UUID(int=rng.getrandbits(128))),
            api_version="2025-10",
            headers={"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": domain, "X-Shopify-Hmac-Sha256": "[redacted]"},
            payload=_payload(topic, domain, rng, broken),
            ack_latency_ms=rng.lognormvariate(2.0, 0.6) if i % 50 else rng.uniform(150, 900),
        )
        if event_id is not None:
            created.append((event_id, age))
    # The real path, without the back-off pauses between attempts; the expected
    # failures are summarised by the command instead of logged one by one.
    quiet = logging.getLogger("webhooks.processing")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with override_settings(WEBHOOK_RETRY_DELAYS=[0.0, 0.0, 0.0, 0.0]):
        for event_id, _ in created:
            processing.process_until_settled(event_id, trigger="worker")
    quiet.setLevel(level)
    _age(created)
    statuses: dict[str, int] = {}
    for status in WebhookEvent.objects.filter(pk__in=[e for e, _ in created]).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def _age(created: list[tuple[int, timedelta]]) -> None:
    """Spread the events over the past days, keeping each one's own timings."""
    for event_id, age in created:
        WebhookEvent.objects.filter(pk=event_id).update(
            received_at=F("received_at") - age, processed_at=F("processed_at") - age
        )
        EventAttempt.objects.filter(event_id=event_id).update(started_at=F("started_at") - age)
        DeadLetter.objects.filter(event_id=event_id).update(created_at=F("created_at") - age)
