"""Support staff find a delivery by what is inside it: an order name or id, a customer
e-mail or id (the subject index), or any field as path:value within a time window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhooks import indexer, payload_search
from webhooks.models import WebhookEvent
from webhooks.tests.support import store_event

pytestmark = pytest.mark.django_db
EVENTS = reverse("admin:webhooks_webhookevent_changelist")

ORDER = {
    "id": 820982911946154508, "name": "#4939", "email": "Jon.Doe@Example.com",
    "customer": {"id": 115310627314723954, "email": "jon.doe@example.com", "tags": "wholesale, VIP"},
    "line_items": [{"sku": "ABC-1", "quantity": 1}, {"sku": "XYZ-9", "quantity": 2}],
}


def indexed(topic: str, payload: dict[str, Any], **extra: Any) -> WebhookEvent:
    event = store_event(topic, payload, **extra)
    indexer.index(event)  # what the worker does when it claims the event
    return event


def found(client: Any, term: str, **params: str) -> set[int]:
    response = client.get(EVENTS, {"q": term, **params})
    assert response.status_code == 200
    return {e.pk for e in response.context["cl"].result_list}


def test_it_finds_an_order_by_its_name_id_and_its_customer_by_e_mail_and_id(admin_client):
    order = indexed("orders/create", ORDER)
    other = indexed("orders/create", {**ORDER, "id": 1, "name": "#1", "email": "x@y.z", "customer": {"id": 2}})
    for term in ("#4939", "4939", "820982911946154508", "JON.DOE@example.com", "115310627314723954"):
        assert found(admin_client, term) == {order.pk}, term
    assert found(admin_client, "#1") == {other.pk}


@pytest.mark.parametrize("term", ["sku:\x00", "a.b:x\x07y", "\u00b2", "\u0663\u0663"])
def test_it_answers_any_typed_term_without_an_error(admin_client, term):
    """Control characters are no field search (PostgreSQL refuses them in a jsonpath), and
    digits of other scripts are no row id (int() refuses "²")."""
    indexed("orders/create", ORDER)
    found(admin_client, term)  # a 200, whatever it finds
    assert payload_search.parse_field(term) is None


def test_it_finds_a_field_inside_lists_and_comma_separated_tags_ignoring_case(admin_client):
    order = indexed("orders/create", ORDER)
    indexed("orders/create", {**ORDER, "line_items": [{"sku": "ABC-10"}], "customer": {"tags": "VIPER"}})
    assert found(admin_client, "line_items.sku:ABC-1") == {order.pk}
    assert found(admin_client, "line_items.sku:abc-1") == {order.pk}
    assert found(admin_client, "customer.tags:vip") == {order.pk}
    assert found(admin_client, "line_items.quantity:2") == {order.pk}
    assert found(admin_client, "line_items.sku:nothing-like-it") == set()


def test_field_search_looks_back_over_the_window_the_page_shows(admin_client):
    old = indexed("orders/create", ORDER, received_at=timezone.now() - timedelta(days=10))
    response = admin_client.get(EVENTS, {"q": "line_items.sku:ABC-1"})
    assert "field search looks at deliveries of the last 7 days" in response.content.decode()
    assert found(admin_client, "line_items.sku:ABC-1") == set()
    assert found(admin_client, "line_items.sku:ABC-1", within="30d") == {old.pk}
    assert found(admin_client, "#4939") == {old.pk}  # the index has no window


def test_it_narrows_the_dead_letter_list_by_order_name_e_mail_and_field(admin_client):
    from deadletters.models import DeadLetter

    event = indexed("orders/create", ORDER, status="dead")
    other = indexed("orders/create", {"id": 5, "name": "#5"}, status="dead")
    mine, _ = (DeadLetter.objects.create(event=e, topic=e.topic, shop_domain=e.shop_domain, error_class="E", fingerprint="f")
               for e in (event, other))
    url = reverse("admin:deadletters_deadletter_changelist")
    for term in ("#4939", "jon.doe@example.com", "customer.tags:vip"):
        listed = {d.pk for d in admin_client.get(url, {"q": term}).context["cl"].result_list}
        assert listed == {mine.pk}, term


def test_it_reads_a_field_term_and_leaves_everything_else_to_the_other_searches():
    assert payload_search.parse_field("line_items.sku:ABC-1") == payload_search.FieldTerm(("line_items", "sku"), "ABC-1")
    for text in ("#4939", "jon@example.com", "acme.myshopify.com", "https://x", "a.b:", "1a.b:c"):
        assert payload_search.parse_field(text) is None, text


SKUS = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(SKUS, max_size=3), min_size=1, max_size=5), SKUS)
def test_a_field_search_finds_exactly_the_events_holding_the_value(skus_per_event, wanted):
    WebhookEvent.objects.all().delete()
    events = {indexed("orders/create", {"id": n, "line_items": [{"sku": s} for s in skus]}).pk: skus
              for n, skus in enumerate(skus_per_event)}
    expected = {pk for pk, skus in events.items() if wanted.lower() in {s.lower() for s in skus}}
    since = timezone.now() - timedelta(days=1)
    assert set(payload_search.field_event_ids(payload_search.FieldTerm(("line_items", "sku"), wanted), since)) == expected
