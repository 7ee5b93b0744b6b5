"""What a privacy request reaches: the customer's own strings in free texts (never a gift
recipient's), and exactly the same events for an export as for a redaction."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timedify_ops.models import JobRun
from webhooks import processing
from webhooks.models import CustomerDataExport, EventStatus, WebhookEvent
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


def _history(refunds: int, others: int) -> int:
    """The customer's order found by its customer only, its refunds naming only the order,
    and other customers' orders; returns the customer's order id."""
    store_event("orders/create", {**ORDER, "id": 9001, "email": "", "phone": ""}, shop=SHOP)
    for n in range(refunds):
        store_event("refunds/create", {"id": 100 + n, "order_id": 9001, "note": "Call +16135551212"}, shop=SHOP)
    for n in range(others):
        store_event("orders/create", {"id": 8000 + n, "customer": {"id": 1 + n, "email": f"o{n}@example.com"}}, shop=SHOP)
    return 9001


def _export_and_redact() -> tuple[set[int], set[int]]:
    request = store_event(
        "customers/data_request", {"shop_domain": SHOP, "customer": CUSTOMER, "data_request": {"id": 7}}, shop=SHOP
    )
    assert processing.process_event(request.pk) == EventStatus.PROCESSED
    exported = {e["id"] for e in CustomerDataExport.objects.get(event=request).document["events"]}
    before = set(WebhookEvent.objects.filter(redacted_at__isnull=False).values_list("pk", flat=True))
    _redact([])
    erased = set(WebhookEvent.objects.filter(redacted_at__isnull=False).values_list("pk", flat=True)) - before
    erased -= set(WebhookEvent.objects.filter(topic__startswith="customers/").values_list("pk", flat=True))
    return exported, erased


@pytest.mark.django_db
def test_it_exports_exactly_the_events_a_redaction_erases():
    _history(refunds=2, others=1)
    exported, erased = _export_and_redact()
    assert len(erased) == 3  # the order and its two refunds: the test can fail
    assert exported == erased


@pytest.mark.django_db(transaction=True)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(refunds=st.integers(0, 3), others=st.integers(0, 3))
def test_it_exports_exactly_the_events_a_redaction_erases_for_any_history(refunds, others):
    WebhookEvent.objects.all().delete()
    CustomerDataExport.objects.all().delete()
    _history(refunds, others)
    exported, erased = _export_and_redact()
    assert exported == erased and len(erased) == 1 + refunds
