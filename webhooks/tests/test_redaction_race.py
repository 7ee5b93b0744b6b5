"""A customers/redact that commits between a worker's claim and its indexing: the worker
indexes (and handles) the erased payload, never the copy it read before."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from webhooks import processing
from webhooks.indexer import index_claimed_event
from webhooks.models import EventStatus, WebhookEvent
from webhooks.processing.claims import claim
from webhooks.subject_index import EventSubject
from webhooks.tests.support import store_event

SHOP = "demo-shop.myshopify.com"
EMAIL = "jon.snow@example.com"
CUSTOMER = {"id": 207119551, "email": EMAIL}
ORDER = {"id": 450789469, "email": EMAIL, "customer": CUSTOMER, "line_items": []}


def _indexed_emails() -> set[str]:
    return set(EventSubject.objects.filter(kind="email").values_list("value", flat=True))


@pytest.mark.django_db
def test_it_indexes_the_erased_payload_when_a_redaction_commits_after_the_claim():
    order = store_event("orders/create", ORDER, shop=SHOP)
    assert claim(order.pk) is not None
    read_at_claim = WebhookEvent.objects.get(pk=order.pk)  # what the worker read
    redact = store_event("customers/redact", {"shop_domain": SHOP, "customer": CUSTOMER}, shop=SHOP)
    assert processing.process_event(redact.pk) == EventStatus.PROCESSED
    event = index_claimed_event(read_at_claim)
    assert event.payload["email"] == "[redacted]"  # the handler gets the erased payload
    assert EMAIL not in _indexed_emails()


def _index_in_thread(event: WebhookEvent, result: list[WebhookEvent]) -> None:
    try:
        result.append(index_claimed_event(event))
    finally:
        connections.close_all()  # this thread's own connection


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_waits_for_a_redaction_holding_the_events_lock_then_reads_its_erasure():
    order = store_event("orders/create", ORDER, shop=SHOP)
    assert claim(order.pk) is not None
    read_at_claim = WebhookEvent.objects.get(pk=order.pk)
    erased = {**ORDER, "email": "[redacted]", "customer": {"id": 207119551, "email": "[redacted]"}}
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")})
    result: list[WebhookEvent] = []
    try:
        # A second connection takes the row's lock and erases the payload, as a redaction does.
        other.execute("SELECT id FROM webhooks_webhookevent WHERE id = %s FOR UPDATE", [order.pk])
        other.execute("UPDATE webhooks_webhookevent SET payload = %s WHERE id = %s", [json.dumps(erased), order.pk])
        worker = threading.Thread(target=_index_in_thread, args=(read_at_claim, result))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive()  # the index step waits for the lock
        other.commit()
        worker.join(10)
    finally:
        other.close()
    assert result and result[0].payload["email"] == "[redacted]"
    assert EMAIL not in _indexed_emails()
