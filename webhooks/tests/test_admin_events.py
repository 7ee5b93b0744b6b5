"""The webhook event admin: read-only, searchable, and it never shows a secret."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from conftest import shopify_headers
from webhooks.admin import kit
from webhooks.models import EventStatus, Shop, WebhookEvent
from webhooks.processing import process_event

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:webhooks_webhookevent_changelist")
SCRIPT = "<script>alert('owned')</script>"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.WEBHOOK_RETRY_DELAYS = []
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def stored(deliver, payload, **kwargs) -> WebhookEvent:
    response = deliver(payload, **kwargs)
    assert response.status_code == 200
    return WebhookEvent.objects.get(pk=response.json()["id"])


def dead_event(deliver, shop="dead-shop.myshopify.com", payload=None) -> WebhookEvent:
    """app/scopes_update without scopes fails permanently: a dead event and a dead letter."""
    event = stored(deliver, payload or {"id": 1, "note": SCRIPT}, topic="app/scopes_update", shop=shop)
    assert process_event(event.pk) == EventStatus.DEAD
    event.refresh_from_db()
    return event


def test_it_lists_events_newest_first_with_the_columns_support_reads(admin_client, deliver):
    older = stored(deliver, {"id": 1}, topic="orders/create", shop="a-shop.myshopify.com")
    newer = stored(deliver, {"id": 2}, topic="orders/paid", shop="b-shop.myshopify.com")
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [e.pk for e in rows][:2] == [newer.pk, older.pk]
    html = response.content.decode()
    for text in ("orders/paid", "b-shop.myshopify.com", "Received", " ms", "Ack latency"):
        assert text in html


def test_it_filters_by_status_topic_shop_and_date(admin_client, deliver):
    dead = dead_event(deliver, shop="filter-shop.myshopify.com")
    other = stored(deliver, {"id": 3}, topic="orders/create", shop="other.myshopify.com")
    for query in ("status__exact=dead", "topic=app/scopes_update", "shop_domain=filter-shop.myshopify.com",
                  "received_at__gte=2000-01-01+00:00:00%2B00:00"):
        ids = [e.pk for e in admin_client.get(f"{CHANGELIST}?{query}").context["cl"].result_list]
        assert dead.pk in ids, query
        if not query.startswith("received_at"):
            assert other.pk not in ids, query


@pytest.mark.parametrize("field", ["webhook_id", "event_id", "shop_prefix"])
def test_it_finds_an_event_by_webhook_id_event_id_or_shop_domain(admin_client, deliver, field):
    wanted = stored(deliver, {"id": 4}, webhook_id="wh-search-me", shop="findme-shop.myshopify.com")
    stored(deliver, {"id": 5}, shop="someone-else.myshopify.com")
    term = {"webhook_id": "wh-search-me", "event_id": wanted.event_id, "shop_prefix": "findme"}[field]
    ids = [e.pk for e in admin_client.get(CHANGELIST, {"q": term}).context["cl"].result_list]
    assert ids == [wanted.pk]


def test_it_shows_the_payload_escaped_headers_redacted_and_the_timeline(admin_client, deliver):
    event = dead_event(deliver, payload={"id": 99, "note": SCRIPT})
    html = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).content.decode()
    assert SCRIPT not in html
    assert "&lt;" in html and "alert" in html
    assert "[redacted]" in html
    assert "PayloadInvalid" in html  # the attempts timeline
    dead_letter = event.dead_letters.get()
    assert reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk]) in html
    assert "shop_domain=dead-shop.myshopify.com" in html  # other deliveries of the same shop


def test_it_never_renders_the_signature_or_the_shop_token(admin_client, client, deliver):
    body = json.dumps({"id": 7}).encode()
    headers = shopify_headers(body, topic="app/scopes_update", shop="secret-shop.myshopify.com")
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    Shop.objects.create(domain="secret-shop.myshopify.com", offline_token_ciphertext="gAAAAA-ciphertext-never-shown")
    process_event(event.pk)
    dead_letter = event.dead_letters.get()
    signature = headers["X-Shopify-Hmac-Sha256"]
    for url in (
        reverse("admin:webhooks_webhookevent_change", args=[event.pk]),
        CHANGELIST,
        reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk]),
        reverse("admin:deadletters_deadletter_changelist"),
        reverse("admin:webhooks_eventattempt_changelist"),
    ):
        html = admin_client.get(url).content.decode()
        assert signature not in html, url
        assert "gAAAAA-ciphertext-never-shown" not in html, url


def test_it_is_read_only_even_for_a_superuser(admin_client, deliver):
    event = stored(deliver, {"id": 8})
    assert admin_client.get(reverse("admin:webhooks_webhookevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:webhooks_webhookevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    admin_client.post(reverse("admin:webhooks_webhookevent_change", args=[event.pk]), {"topic": "changed"})
    assert WebhookEvent.objects.get(pk=event.pk).topic == "orders/create"


def test_it_counts_at_most_the_cap_instead_of_the_whole_table(admin_client, deliver, monkeypatch):
    monkeypatch.setattr(kit, "COUNT_CAP", 3)
    for n in range(5):
        stored(deliver, {"id": n})
    cl = admin_client.get(CHANGELIST).context["cl"]
    assert cl.result_count == 4  # the cap plus one: "more than 3"
    assert cl.show_full_result_count is False


def test_it_shows_an_attempt_with_its_traceback(admin_client, deliver):
    event = dead_event(deliver)
    attempt = event.attempt_log.get()
    html = admin_client.get(reverse("admin:webhooks_eventattempt_change", args=[attempt.pk])).content.decode()
    assert "Traceback (most recent call last)" in html
