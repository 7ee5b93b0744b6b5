"""What a privacy request reaches: the customer's own strings in free texts (never a gift
recipient's), and exactly the same events for an export as for a redaction."""

from __future__ import annotations

import pytest

from timedify_ops.models import JobRun
from webhooks import privacy, processing
from webhooks.models import EventStatus
from webhooks.tests.support import store_event

SHOP = "demo-shop.myshopify.com"
CUSTOMER = {"id": 207119551, "email": "jon.snow@example.com", "phone": "+16135551212"}
RECIPIENT = {"first_name": "Sansa", "last_name": "Starkwood", "address1": "1 Kings Road", "phone": "+16135550199"}
ORDER = {
    "id": 450789469, "email": "jon.snow@example.com", "phone": "+16135551212",
    "customer": {**CUSTOMER, "first_name": "Jon", "last_name": "Snowfield"},
    "shipping_address": RECIPIENT, "billing_address": {**RECIPIENT, "first_name": "Jon", "last_name": "Snowfield"},
}


def _redact(order_ids: list[int]) -> None:
    redact = store_event(
        "customers/redact", {"shop_domain": SHOP, "customer": CUSTOMER, "orders_to_redact": order_ids}, shop=SHOP
    )
    assert processing.process_event(redact.pk) == EventStatus.PROCESSED


@pytest.mark.django_db
def test_it_scrubs_the_customers_own_name_from_free_texts_but_not_a_gift_recipients():
    order = store_event("orders/create", ORDER, shop=SHOP)
    run = JobRun.objects.create(task="report", summary="Jon Snowfield and Sansa Starkwood at +16135550199")
    _redact([])
    order.refresh_from_db()
    assert order.payload["shipping_address"]["first_name"] == "[redacted]"  # the payload loses both
    run.refresh_from_db()
    assert run.summary == "[redacted] and Sansa Starkwood at +16135550199"
