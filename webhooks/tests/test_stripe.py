"""The second provider through the same pipeline: Stripe's signature scheme."""

from __future__ import annotations

import json
import time

import pytest

from conftest import stripe_header
from webhooks.models import WebhookEvent

EVENT = {"id": "evt_1PX", "type": "invoice.paid", "created": 1763600000, "api_version": "2025-09-30", "data": {}}


def post(client, body: bytes, header: str | None):
    headers = {"Stripe-Signature": header} if header else {}
    return client.post("/webhooks/stripe/", data=body, content_type="application/json", headers=headers)


@pytest.mark.django_db
def test_it_stores_a_signed_stripe_event_keyed_by_its_id():
    from django.test import Client

    client = Client()
    body = json.dumps(EVENT).encode()
    response = post(client, body, stripe_header(body))
    assert response.status_code == 200
    event = WebhookEvent.objects.get(provider="stripe", webhook_id="evt_1PX")
    assert event.topic == "invoice.paid"
    assert event.headers["Stripe-Signature"] == "[redacted]"
    assert post(client, body, stripe_header(body)).json() == {"status": "duplicate"}
    assert WebhookEvent.objects.filter(provider="stripe").count() == 1


@pytest.mark.django_db
def test_it_accepts_any_matching_v1_signature(client):
    body = json.dumps(EVENT).encode()
    good = stripe_header(body)
    t = good.split(",")[0]
    header = f"{t},v1={'0' * 64},{good.split(',')[1]}"
    assert post(client, body, header).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_header",
    [
        lambda body: stripe_header(body, secret="whsec_other"),
        lambda body: stripe_header(body, timestamp=int(time.time()) - 301),
        lambda body: "v1=abc",
        lambda body: "t=notanumber,v1=abc",
        lambda body: None,
    ],
    ids=["wrong-secret", "too-old", "no-timestamp", "bad-timestamp", "missing"],
)
def test_it_refuses_a_bad_stripe_signature_and_stores_nothing(client, make_header):
    body = json.dumps(EVENT).encode()
    assert post(client, body, make_header(body)).status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_needs_an_id_and_a_type(client):
    body = json.dumps({"type": "invoice.paid"}).encode()
    response = post(client, body, stripe_header(body))
    assert response.status_code == 400
    assert response.json() == {"error": "event has no printable string id of at most 255 characters"}


@pytest.mark.django_db
def test_it_refuses_an_event_type_holding_control_characters(client):
    body = json.dumps({"id": "evt_1", "type": "invoice.paid\u001b[2J"}).encode()
    response = post(client, body, stripe_header(body))
    assert response.status_code == 400
    assert "type" in response.json()["error"]
