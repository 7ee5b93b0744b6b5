"""A row stored before the depth limit, nested deeper than it, still shows in the admin."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from webhooks.jsonwalk import depth, dumps_readable
from webhooks.models import WebhookEvent


def nested(levels: int) -> dict:
    value: dict = {"leaf": "deep"}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.django_db
def test_it_shows_an_old_event_nested_deeper_than_the_limit_instead_of_failing(admin_client):
    event = WebhookEvent.objects.create(
        provider="shopify", topic="orders/create", shop_domain="old-shop.myshopify.com", webhook_id="old-1",
        payload=nested(900),
    )
    response = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk]))
    assert response.status_code == 200
    assert b"deep" in response.content or b"nested deeper" in response.content


@given(levels=st.integers(1, 400))
def test_it_indents_within_the_limit_and_keeps_the_json_beyond_it(levels):
    value = nested(levels)
    assert depth(value) == levels
    text = dumps_readable(value)
    assert json.loads(text) == value
    assert ("\n" in text) == (levels <= django_settings.WEBHOOK_MAX_JSON_DEPTH)
