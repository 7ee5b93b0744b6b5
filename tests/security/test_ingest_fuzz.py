"""Property-based fuzzing of the ingest endpoints: random headers, bodies, encodings,
sizes and signatures never cause a 5xx, and nothing without a valid signature is stored."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import SHOPIFY_PREVIOUS_SECRET, SHOPIFY_SECRET, STRIPE_SECRET
from webhooks.models import WebhookEvent
from webhooks.verify import shopify_signature, stripe_signature

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
MAX_BODY = 2048  # small limit, so that oversized bodies are cheap to generate

latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_value, max_size=6).map(lambda d: json.dumps(d).encode())
bodies = st.one_of(
    json_objects,
    json_objects.map(lambda b: b + b" " * 2100),  # over the size limit
    st.binary(max_size=3000),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.dictionaries(st.text(max_size=10), json_value, max_size=4), st.sampled_from(["utf-16", "latin-1", "utf-8-sig"]))
    .map(lambda t: json.dumps(t[0], ensure_ascii=False).encode(t[1], errors="replace")),
    st.sampled_from([b'{"a": "\\ud800"}', b'{"a": "x\\u0000y"}', b'{"a": NaN}', b'{"a": 1e400}', b'{"a": -Infinity}']),
)
SIGNATURES = ["valid", "previous", "wrong_secret", "other_body", "garbage", "missing", "empty", "not_base64"]
HEADER_NAMES = ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-API-Version",
                "X-Shopify-Triggered-At", "X-Shopify-Event-Id", "Content-Length", "X-Timedify-Synthetic", "Stripe-Signature"]
PATHS = ["/webhooks/shopify/", "/webhooks/shopify/app/uninstalled/", "/webhooks/shopify/no/such-topic/", "/webhooks/stripe/"]


def shopify_hmac(kind: str, body: bytes, draw_garbage: str) -> str | None:
    return {
        "valid": shopify_signature(body, SHOPIFY_SECRET),
        "previous": shopify_signature(body, SHOPIFY_PREVIOUS_SECRET),
        "wrong_secret": shopify_signature(body, "not-the-secret"),
        "other_body": shopify_signature(body + b" ", SHOPIFY_SECRET),
        "garbage": base64.b64encode(draw_garbage.encode("latin-1")).decode(),
        "missing": None,
        "empty": "",
        "not_base64": draw_garbage,
    }[kind]


def stripe_header(kind: str, body: bytes, garbage: str) -> str | None:
    import time

    t = int(time.time())
    if kind in ("valid", "previous"):
        return f"t={t},v1={stripe_signature(body, STRIPE_SECRET, t)}"
    if kind == "wrong_secret":
        return f"t={t},v1={stripe_signature(body, 'whsec_wrong', t)}"
    if kind == "other_body":
        return f"t={t - 10_000},v1={stripe_signature(body, STRIPE_SECRET, t - 10_000)}"  # too old
    return None if kind == "missing" else garbage


@pytest.fixture
def small_limit(settings):  # noqa: F811 - pytest-django's settings fixture, not hypothesis'
    settings.WEBHOOK_MAX_BODY_BYTES = MAX_BODY


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    path=st.one_of(st.just(PATHS[0]), st.sampled_from(PATHS)),
    body=bodies,
    # Half of the cases correctly signed, so that the deeper checks and the INSERT run too.
    signature=st.one_of(st.just("valid"), st.sampled_from(SIGNATURES)),
    garbage=latin1,
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), latin1, max_size=3),
    keep_required=st.sampled_from([True, True, True, False]),
    # (A charset other than utf-8 would make the test client re-encode the raw bytes.)
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=utf-8"]),
)
def test_it_never_answers_5xx_and_never_stores_an_unsigned_delivery(
    client, small_limit, path, body, signature, garbage, headers, keep_required, content_type
):
    sent = dict(headers)
    if keep_required:  # often well-formed apart from the fuzzed parts, so deeper code runs
        sent = {"X-Shopify-Topic": "app/uninstalled", "X-Shopify-Shop-Domain": "fuzz.myshopify.com",
                "X-Shopify-Webhook-Id": f"fuzz-{garbage[:20]}", "X-Shopify-API-Version": "2025-10", **headers}
    sent.pop("Content-Length", None)  # the test client sets it from the body
    if path.startswith("/webhooks/stripe/"):
        value = stripe_header(signature, body, garbage)
        sent.pop("Stripe-Signature", None)
        if value is not None:
            sent["Stripe-Signature"] = value
    else:
        value = shopify_hmac(signature, body, garbage)
        if value is not None:
            sent["X-Shopify-Hmac-Sha256"] = value
    before = WebhookEvent.objects.count()
    response = client.post(path, data=body, content_type=content_type, headers=sent)
    stored = WebhookEvent.objects.count() - before
    event(f"HTTP {response.status_code}")  # pytest --hypothesis-show-statistics
    assert response.status_code < 500, response.content
    if signature not in ("valid", "previous") or len(body) > MAX_BODY:
        assert response.status_code in (400, 401, 405, 413), response.status_code
        assert stored == 0
    if stored:
        assert response.status_code == 200
        assert response.json()["status"] == "stored"


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "status", "stored"), [
    (b'{"note": "a\\u0000b", "k\\ud800": "\\udc00"}', 200, {"note": "a\ufffdb", "k\ufffd": "\ufffd"}),
    (b'{"emoji": "\\ud83d\\ude00"}', 200, {"emoji": "\U0001F600"}),
    (b'{"total": NaN}', 400, None),
    (b'{"total": 1e400}', 400, None),
])
def test_it_stores_what_the_database_can_hold_and_refuses_non_standard_numbers(deliver, body, status, stored):
    response = deliver(body, webhook_id="wh-odd-json")
    assert response.status_code == status
    event = WebhookEvent.objects.filter(webhook_id="wh-odd-json").first()
    assert (event.payload if event else None) == stored
