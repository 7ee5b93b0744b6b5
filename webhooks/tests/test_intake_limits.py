"""The intake's limits: nesting depth, header values and ranges, the stored-header policy."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.urls import reverse

from conftest import shopify_headers
from webhooks import processing
from webhooks.intake import STORED_HEADERS, nesting_depth
from webhooks.models import EventStatus, RejectedDelivery, WebhookEvent
from webhooks.store import insert_event


def nested(depth: int) -> bytes:
    """A JSON object whose arrays and objects nest `depth` levels deep."""
    return ('{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)).encode()


def rejected(reason: str) -> int:
    return sum(RejectedDelivery.objects.filter(reason=reason).values_list("count", flat=True))


def test_it_measures_nesting_without_recursion():
    assert nesting_depth({}) == 1
    assert nesting_depth({"a": [1, {"b": []}], "c": "[[[["}) == 4
    deep: dict[str, object] = {}
    for _ in range(4999):
        deep = {"a": deep}
    assert nesting_depth(deep) == 5000
    assert nesting_depth("text") == 0


@pytest.mark.django_db
def test_it_stores_a_payload_at_the_depth_limit_and_refuses_one_level_more(deliver, settings):
    settings.WEBHOOK_MAX_JSON_DEPTH = 10
    assert deliver(nested(10), webhook_id="wh-deep-ok").status_code == 200
    response = deliver(nested(11), webhook_id="wh-deep-no")
    assert response.status_code == 400
    assert "deeper than 10" in response.json()["error"]
    assert not WebhookEvent.objects.filter(webhook_id="wh-deep-no").exists()
    assert rejected("too_deep") == 1


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_it_answers_400_not_500_for_a_thousand_levels_and_more(deliver, depth):
    body = b"[" * depth + b"]" * depth
    wrapped = b'{"a":' + body + b"}"
    assert deliver(wrapped).status_code == 400
    assert rejected("too_deep") == 1
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "stored"),
    [
        ("9999-12-31T23:30:00-05:00", None),  # year 10000 in UTC
        ("0001-01-01T00:30:00+05:00", None),  # year 0 in UTC
        ("9999-12-31T23:59:59.999999+00:00", "9999-12-31T23:59:59.999999+00:00"),
        ("0001-01-01T05:00:00+05:00", "0001-01-01T00:00:00+00:00"),
        ("2026-11-20T10:00:00+02:00", "2026-11-20T08:00:00+00:00"),
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00+00:00"),
        ("not a time", None),
    ],
)
def test_it_keeps_the_delivery_and_drops_a_trigger_time_no_database_holds(client, admin_client, header, stored):
    body = json.dumps({"id": 1}).encode()
    headers = {**shopify_headers(body, webhook_id="wh-time", topic="no/handler"), "X-Shopify-Triggered-At": header}
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers).status_code == 200
    event = WebhookEvent.objects.get(webhook_id="wh-time")
    assert (event.triggered_at.isoformat() if event.triggered_at else None) == stored
    # Every reader of the row still works: the changelist, the event page and the worker.
    assert admin_client.get(reverse("admin:webhooks_webhookevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).status_code == 200
    processing.process_event(event.pk)
    assert WebhookEvent.objects.get(pk=event.pk).status == EventStatus.IGNORED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("X-Shopify-Webhook-Id", "wh-\x00-nul", "bad_header"),
        ("X-Shopify-Topic", "orders/create\x1b[31m", "bad_header"),
        ("X-Shopify-Webhook-Id", "w" * 256, "bad_header"),
        ("X-Shopify-Topic", "t" * 101, "bad_header"),
        ("X-Shopify-Shop-Domain", "shop.example/../x", "bad_header"),
        ("X-Shopify-Topic", "   ", "missing_header"),
    ],
)
def test_it_refuses_a_required_header_it_cannot_store_with_400(client, header, value, reason):
    body = json.dumps({"id": 1}).encode()
    headers = {**shopify_headers(body), header: value}
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert header in response.json()["error"]
    assert WebhookEvent.objects.count() == 0
    assert rejected(reason) == 1


@pytest.mark.django_db
def test_it_cuts_optional_headers_to_their_columns_and_cleans_them(client):
    body = json.dumps({"id": 1}).encode()
    headers = {**shopify_headers(body, webhook_id="wh-long", api_version="2025-10-" + "x" * 50),
               "X-Shopify-Event-Id": "e\x00" + "v" * 400}
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers).status_code == 200
    event = WebhookEvent.objects.get(webhook_id="wh-long")
    assert len(event.api_version) == 20
    assert event.event_id.startswith("e\ufffdv") and len(event.event_id) == 255


@pytest.mark.django_db
def test_it_stores_headers_by_the_one_policy(client):
    body = json.dumps({"id": 1}).encode()
    headers = {
        **shopify_headers(body, webhook_id="wh-policy"),
        "X-Shopify-Access-Token": "shpat_secret",
        "Authorization": "Bearer abc",
        "Cookie": "sessionid=abc",
        "X-Forwarded-For": "10.0.0.1",
        "User-Agent": "Shopify-Captain-Hook",
    }
    client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    stored = WebhookEvent.objects.get(webhook_id="wh-policy").headers
    assert stored["X-Shopify-Access-Token"] == "[redacted]"
    assert stored["X-Shopify-Hmac-Sha256"] == "[redacted]"
    assert stored["User-Agent"] == "Shopify-Captain-Hook"
    assert stored["X-Shopify-Topic"] == "orders/create"
    assert not {"Authorization", "Cookie", "X-Forwarded-For"} & set(stored)
    assert "shpat_secret" not in json.dumps(stored)


def test_it_caps_the_number_and_length_of_stored_headers():
    many = {f"X-Shopify-Extra-{i}": "v\x00" * 2000 for i in range(200)}
    stored = STORED_HEADERS.apply(many)
    assert len(stored) == STORED_HEADERS.most
    assert all(len(v) == STORED_HEADERS.value_limit and "\x00" not in v for v in stored.values())


@pytest.mark.django_db
def test_it_shows_headers_in_the_admin_exactly_as_stored(admin_client):
    # A row stored some other way: the page shows what is there, it hides nothing by name.
    pk = insert_event(provider="shopify", topic="orders/create", webhook_id="wh-shown", payload={},
                      headers={"X-Shopify-Shop-Api-Call-Limit": "1/40", "X-Shopify-Hmac-Sha256": "[redacted]"})
    html = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[pk])).content.decode()
    assert "X-Shopify-Shop-Api-Call-Limit" in html and "1/40" in html
    assert "as stored" in html


@pytest.mark.django_db
def test_it_redacts_secrets_stored_before_the_policy_with_its_migration():
    migration = importlib.import_module("webhooks.migrations.0007_i12b_redact_stored_headers")
    old = insert_event(provider="shopify", topic="t", webhook_id="wh-old", payload={},
                       headers={"X-Shopify-Access-Token": "shpat_1", "X-Shopify-Topic": "t"})
    migration.redact(apps, None)
    assert WebhookEvent.objects.get(pk=old).headers == {"X-Shopify-Access-Token": "[redacted]", "X-Shopify-Topic": "t"}


@pytest.mark.django_db
def test_it_answers_400_for_a_content_length_that_is_not_a_number(client):
    body = json.dumps({"id": 1}).encode()
    response = client.generic("POST", "/webhooks/shopify/", body, content_type="application/json",
                              headers=shopify_headers(body), CONTENT_LENGTH="-5")
    assert response.status_code == 400
    assert rejected("bad_request") == 1
