"""Intake over real HTTP: raw header case, concurrent duplicates, a database that is down."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from conftest import database_down, shopify_headers
from webhooks.models import WebhookEvent


def raw_post(base_url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """http.client sends header names exactly as given (requests would too, but say so)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_it_reads_header_names_in_any_case(live_server):
    body = json.dumps({"id": 1}).encode()
    headers = {k.lower(): v for k, v in shopify_headers(body, webhook_id="wh-lower").items()}
    status, _ = raw_post(live_server.url, "/webhooks/shopify/", body, headers)
    assert status == 200
    headers = {k.upper(): v for k, v in shopify_headers(body, webhook_id="wh-upper").items()}
    status, _ = raw_post(live_server.url, "/webhooks/shopify/", body, headers)
    assert status == 200
    assert set(WebhookEvent.objects.values_list("webhook_id", flat=True)) == {"wh-lower", "wh-upper"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_it_stores_one_row_when_copies_arrive_at_the_same_moment(live_server):
    body = json.dumps({"id": 7}).encode()
    barrier = threading.Barrier(8)

    def send(_: int) -> int:
        headers = shopify_headers(body, webhook_id="wh-race")
        barrier.wait()
        return requests.post(f"{live_server.url}/webhooks/shopify/", data=body, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses == [200] * 8
    assert WebhookEvent.objects.filter(webhook_id="wh-race").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_while_the_database_is_down_and_stores_the_retry(client):
    body = json.dumps({"id": 1}).encode()
    headers = shopify_headers(body, webhook_id="wh-outage")
    with database_down():
        response = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
    assert not WebhookEvent.objects.filter(webhook_id="wh-outage").exists()
    # Shopify retries the same delivery once the database is back.
    retry = client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers)
    assert retry.status_code == 200
    assert WebhookEvent.objects.filter(webhook_id="wh-outage").count() == 1
