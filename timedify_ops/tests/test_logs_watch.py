"""logs_watch: prints events as they arrive, filters by topic, stops by itself."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from webhooks.models import WebhookEvent


@pytest.mark.django_db
def test_it_shows_the_backlog_filtered_by_topic_and_stops():
    WebhookEvent.objects.create(topic="orders/create", shop_domain="a.myshopify.com", webhook_id="w-1")
    WebhookEvent.objects.create(topic="app/uninstalled", shop_domain="b.myshopify.com", webhook_id="w-2")
    WebhookEvent.objects.create(topic="orders/create", shop_domain="c.myshopify.com", webhook_id="w-3")
    out = StringIO()

    started = time.monotonic()
    call_command("logs_watch", "0.3", "--backlog", "10", "--topic", "orders/create", stdout=out)

    assert time.monotonic() - started < 3
    lines = out.getvalue().strip().splitlines()
    assert [line.split()[-1] for line in lines[:-1]] == ["w-1", "w-3"]
    assert "a.myshopify.com" in lines[0]
    assert lines[-1] == "2 events in 0.3 s (orders/create 2)"


@pytest.mark.django_db(transaction=True)
def test_it_prints_events_stored_while_it_watches():
    WebhookEvent.objects.create(topic="orders/create", webhook_id="before")

    def arrive() -> None:
        time.sleep(0.4)
        WebhookEvent.objects.create(topic="shop/redact", shop_domain="late.myshopify.com", webhook_id="during")
        connection.close()

    writer = threading.Thread(target=arrive)
    writer.start()
    out = StringIO()
    call_command("logs_watch", "1.5", "--interval", "0.1", stdout=out)
    writer.join()

    text = out.getvalue()
    assert "before" not in text
    assert "shop/redact late.myshopify.com received" in text
    assert text.strip().splitlines()[-1] == "1 events in 1.5 s (shop/redact 1)"
