"""The intake's boundary as properties: whatever the header values (times at the edge of the
calendar, control characters, lengths), the nesting and the encoding of the body, the answer
is never a 5xx, nothing unsigned is stored, and every stored row can be read back by the
events changelist, the event page and the worker. Deliveries go through the production
entry point (timedify_ops.wsgi), the lean intake handler gunicorn serves them with."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import hypothesis
import pytest
from django.urls import reverse
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st

from conftest import shopify_headers, wsgi_request
from webhooks import processing
from webhooks.models import EventStatus, WebhookEvent

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
DEPTH_LIMIT = 40

header_text = st.text(st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=300)


@st.composite
def trigger_times(draw: st.DrawFn) -> str:
    """ISO times anywhere in Python's calendar, with any offset, or not a time at all."""
    moment = draw(st.datetimes(min_value=datetime.min, max_value=datetime.max))
    minutes = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    shape = draw(st.sampled_from(["offset", "z", "naive", "garbage"]))
    if shape == "garbage":
        return draw(header_text)
    suffix = {"offset": f"{sign}{minutes // 60:02d}:{minutes % 60:02d}", "z": "Z", "naive": ""}[shape]
    return moment.isoformat() + suffix


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, int]:
    """(body, nesting depth) in one of several encodings."""
    depth = draw(st.integers(min_value=1, max_value=DEPTH_LIMIT + 20))
    leaf = draw(st.text(max_size=20) | st.integers() | st.none())
    value: Any = leaf
    for level in range(depth - 1):
        value = [value] if level % 2 else {"k": value}
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "utf-8-sig"]))
    return json.dumps({"v": value}, ensure_ascii=False).encode(encoding, errors="replace"), depth


@pytest.mark.django_db
@hypothesis.settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    body_and_depth=bodies(),
    triggered_at=trigger_times(),
    # Mostly well-formed, so that the INSERT and every reader of the row run too.
    event_id=st.one_of(st.uuids().map(str), header_text),
    api_version=st.one_of(st.just("2025-10"), header_text),
    webhook_id=st.one_of(st.uuids().map(str), st.uuids().map(str), header_text),
    topic=st.one_of(st.just("no/handler"), st.just("no/handler"), header_text),
    extra=st.dictionaries(st.sampled_from(["X-Shopify-Access-Token", "X-Shopify-Extra", "Authorization", "Cookie"]),
                          header_text, max_size=3),
    signed=st.sampled_from([True, True, True, False]),
)
def test_it_never_fails_on_what_a_delivery_carries_and_stores_only_readable_rows(
    admin_client, settings, body_and_depth, triggered_at, event_id, api_version, webhook_id, topic, extra, signed
):
    settings.WEBHOOK_MAX_JSON_DEPTH = DEPTH_LIMIT
    body, depth = body_and_depth
    headers = {
        **shopify_headers(body, topic=topic, webhook_id=webhook_id, secret="dev" if not signed else settings.SHOPIFY_API_SECRET),
        "X-Shopify-Triggered-At": triggered_at, "X-Shopify-Event-Id": event_id, "X-Shopify-API-Version": api_version,
        **extra,
    }
    before = WebhookEvent.objects.count()
    status, _, content = wsgi_request("POST", "/webhooks/shopify/", body, headers)
    event(f"HTTP {status}")
    assert status < 500, content
    stored = WebhookEvent.objects.count() - before
    if not signed:
        assert status == 401
    if depth > DEPTH_LIMIT:  # depth - 1 wrappers of a scalar leaf, inside the {"v": ...} object
        assert status in (400, 401)
    assert stored == (1 if status == 200 and json.loads(content)["status"] == "stored" else 0)
    if not stored:
        return
    row = WebhookEvent.objects.latest("pk")
    assert "[redacted]" == row.headers["X-Shopify-Hmac-Sha256"]
    assert all(row.headers.get(name, "[redacted]") == "[redacted]" for name in ("X-Shopify-Access-Token",))
    assert not {"Authorization", "Cookie"} & set(row.headers)
    assert admin_client.get(reverse("admin:webhooks_webhookevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[row.pk])).status_code == 200
    processing.process_event(row.pk)
    assert WebhookEvent.objects.get(pk=row.pk).status not in (EventStatus.RECEIVED, EventStatus.PROCESSING)
