"""Bodies without Content-Length, over real sockets: gunicorn (which decodes chunked bodies)
stores them or answers 413; Django's own server (which cannot) answers 411. Never 401."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHOPIFY_SECRET, shopify_headers
from webhooks.models import RejectedDelivery, WebhookEvent

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4096
pytestmark = pytest.mark.slow


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="module")
def gunicorn(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[str]:
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        url = _database_url()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "SHOPIFY_API_SECRET": SHOPIFY_SECRET,
           "WEBHOOK_MAX_BODY_BYTES": str(LIMIT), "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
    gunicorn_bin = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn_bin), "timedify_ops.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def post_chunked(base_url: str, body: bytes, chunk_sizes: list[int], headers: dict[str, str]) -> int:
    """POST `body` with Transfer-Encoding: chunked, cut into chunks of these sizes."""
    chunks, rest = [], body
    for size in chunk_sizes:
        chunks.append(rest[:size])
        rest = rest[size:]
    chunks.append(rest)
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        conn.request("POST", "/webhooks/shopify/", body=iter([c for c in chunks if c]), headers=headers,
                     encode_chunked=True)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_it_stores_a_signed_chunked_delivery_under_gunicorn(gunicorn):
    body = json.dumps({"id": 5, "note": "x" * 1000}).encode()
    assert post_chunked(gunicorn, body, [1, 7, 300], shopify_headers(body, webhook_id="wh-chunked")) == 200
    assert WebhookEvent.objects.get(webhook_id="wh-chunked").payload["id"] == 5


@pytest.mark.django_db(transaction=True)
def test_it_answers_413_for_a_chunked_body_over_the_limit(gunicorn):
    body = json.dumps({"id": 6, "note": "x" * LIMIT}).encode()
    assert post_chunked(gunicorn, body, [100] * 10, shopify_headers(body, webhook_id="wh-big")) == 413
    assert not WebhookEvent.objects.filter(webhook_id="wh-big").exists()


@pytest.mark.django_db(transaction=True)
def test_it_answers_411_where_the_server_cannot_read_a_chunked_body(live_server):
    body = json.dumps({"id": 7}).encode()
    assert post_chunked(live_server.url, body, [3], shopify_headers(body, webhook_id="wh-411")) == 411
    assert not WebhookEvent.objects.exists()
    assert RejectedDelivery.objects.get().reason == "length_required"


@pytest.mark.django_db(transaction=True)
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    note=st.text(max_size=LIMIT // 2),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=LIMIT), max_size=6),
    signed=st.booleans(),
)
def test_it_reads_any_chunking_as_the_same_body(gunicorn, note, chunk_sizes, signed):
    body = json.dumps({"id": 8, "note": note}).encode()
    headers = shopify_headers(body, secret=SHOPIFY_SECRET if signed else "wrong")
    status = post_chunked(gunicorn, body, chunk_sizes, headers)
    webhook_id = headers["X-Shopify-Webhook-Id"]
    if len(body) > LIMIT:
        assert status == 413
    else:
        assert status == (200 if signed else 401)
    assert WebhookEvent.objects.filter(webhook_id=webhook_id).exists() == (status == 200)
    if status == 200:
        assert WebhookEvent.objects.get(webhook_id=webhook_id).payload["note"] == note.replace("\x00", "\ufffd")
