"""The Shopify intake: verify, store once, acknowledge only what is committed."""

from __future__ import annotations

import json
import uuid

import pytest
from django_q.models import OrmQ

from conftest import SHOPIFY_PREVIOUS_SECRET, shopify_headers
from webhooks import processing
from webhooks.models import EventStatus, RejectedDelivery, WebhookEvent

ORDER = {"id": 820982911946154508, "email": "jon@example.com", "total_price": "403.00", "line_items": []}


@pytest.mark.django_db
def test_it_stores_a_signed_delivery_and_answers_200(deliver):
    response = deliver(ORDER, webhook_id="wh-1", topic="orders/create", shop="Demo-Shop.myshopify.com")
    assert response.status_code == 200
    assert response.json()["status"] == "stored"
    event = WebhookEvent.objects.get(provider="shopify", webhook_id="wh-1")
    assert event.topic == "orders/create"
    assert event.shop_domain == "demo-shop.myshopify.com"
    assert event.payload == ORDER
    assert event.status == EventStatus.RECEIVED
    assert event.api_version == "2025-10"
    assert event.triggered_at is not None and event.triggered_at.year == 2026
    assert event.ack_latency_ms is not None and event.ack_latency_ms >= 0
    assert response.json()["id"] == event.pk


@pytest.mark.django_db
def test_it_redacts_the_signature_in_stored_headers(deliver):
    deliver(ORDER, webhook_id="wh-redact")
    headers = WebhookEvent.objects.get(webhook_id="wh-redact").headers
    assert headers["X-Shopify-Hmac-Sha256"] == "[redacted]"
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert "Cookie" not in headers


@pytest.mark.django_db
def test_it_queues_the_stored_event_in_the_same_commit(deliver):
    response = deliver({"current": ["read_orders"]}, webhook_id="wh-enqueue", topic="app/scopes_update")
    event_id = response.json()["id"]
    queued = [q.task for q in OrmQ.objects.all()]
    assert [t["args"] for t in queued] == [("shopify", "wh-enqueue")]
    assert queued[0]["func"] == "webhooks.tasks.process_delivery"
    assert queued[0]["save"] is False
    # What the worker runs for that task processes exactly this event.
    assert processing.process_delivery(*queued[0]["args"]) == EventStatus.PROCESSED
    assert WebhookEvent.objects.get(pk=event_id).status == EventStatus.PROCESSED


@pytest.mark.django_db
def test_it_answers_a_duplicate_with_200_and_changes_nothing(deliver):
    first = deliver(ORDER, webhook_id="wh-dup")
    second = deliver({"id": 1, "changed": True}, webhook_id="wh-dup")
    assert first.status_code == second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert OrmQ.objects.count() == 1  # no second task for the copy
    assert WebhookEvent.objects.filter(webhook_id="wh-dup").count() == 1
    assert WebhookEvent.objects.get(webhook_id="wh-dup").payload == ORDER


@pytest.mark.django_db
def test_it_refuses_a_tampered_body_with_401_and_stores_nothing(client):
    body = json.dumps(ORDER).encode()
    headers = shopify_headers(body, webhook_id="wh-tampered")
    response = client.post("/webhooks/shopify/", data=body + b" ", content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert RejectedDelivery.objects.get(provider="shopify", reason="bad_signature").count == 1


@pytest.mark.django_db
@pytest.mark.parametrize("secret", ["wrong-secret", ""])
def test_it_refuses_a_wrong_or_missing_signature(client, secret):
    body = json.dumps(ORDER).encode()
    headers = shopify_headers(body, secret="wrong-secret")
    if not secret:
        del headers["X-Shopify-Hmac-Sha256"]
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_refuses_everything_when_no_secret_is_configured(deliver, settings):
    settings.SHOPIFY_API_SECRET = ""
    settings.SHOPIFY_API_SECRET_PREVIOUS = ""
    assert deliver(ORDER).status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_accepts_the_previous_secret_during_a_rotation(deliver, settings):
    assert deliver(ORDER, webhook_id="wh-rot", secret=SHOPIFY_PREVIOUS_SECRET).status_code == 200
    settings.SHOPIFY_API_SECRET_PREVIOUS = ""
    assert deliver(ORDER, webhook_id="wh-rot-2", secret=SHOPIFY_PREVIOUS_SECRET).status_code == 401
    assert list(WebhookEvent.objects.values_list("webhook_id", flat=True)) == ["wh-rot"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header", ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-API-Version"]
)
def test_it_answers_400_naming_a_missing_required_header(client, header):
    body = json.dumps(ORDER).encode()
    headers = shopify_headers(body)
    del headers[header]
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": f"missing header {header}"}
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b""])
def test_it_answers_400_for_a_body_that_is_not_a_json_object(client, body):
    headers = shopify_headers(body)
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_answers_413_above_the_body_limit_before_checking_anything(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    body = json.dumps({"note": "x" * 3000}).encode()
    response = client.post(
        "/webhooks/shopify/", data=body, content_type="application/json", headers=shopify_headers(body)
    )
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()
    small = json.dumps({"note": "x" * 100}).encode()
    ok = client.post("/webhooks/shopify/", data=small, content_type="application/json", headers=shopify_headers(small))
    assert ok.status_code == 200


@pytest.mark.django_db
def test_it_accepts_the_topic_alias_path_that_matches_the_header(deliver):
    response = deliver({"customer": {"id": 1}}, path="/webhooks/shopify/customers/redact/", topic="customers/redact")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().topic == "customers/redact"


@pytest.mark.django_db
def test_it_refuses_an_alias_path_that_disagrees_with_the_header(deliver):
    response = deliver(ORDER, path="/webhooks/shopify/customers/redact/", topic="orders/create")
    assert response.status_code == 400
    assert "does not match" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_only_accepts_post(client):
    assert client.get("/webhooks/shopify/").status_code == 405


@pytest.mark.django_db
def test_it_marks_synthetic_deliveries(client):
    body = json.dumps(ORDER).encode()
    headers = shopify_headers(body, webhook_id=f"synthetic-{uuid.uuid4()}") | {"X-Timedify-Synthetic": "1"}
    client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    assert WebhookEvent.objects.get().synthetic is True
