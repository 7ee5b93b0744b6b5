"""The production entry point (timedify_ops.wsgi.application): deliveries on the lean
intake handler, every other page on the console's handler with its middleware; and the
intake's prepared INSERT surviving a connection the database dropped.

Requests are plain WSGI calls of the real application object, as gunicorn makes them."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import OperationalError, connection, connections

from conftest import shopify_headers
from conftest import wsgi_request as call
from webhooks.models import EventStatus, WebhookEvent
from webhooks.store import insert_event


def delivery(webhook_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": 4939, "email": "jon@example.com"}).encode()
    return body, shopify_headers(body, webhook_id=webhook_id)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_through_the_production_entry_point_is_stored_and_acknowledged():
    body, headers = delivery("wh-entry")
    status, response_headers, content = call("POST", "/webhooks/shopify/", body, headers)
    assert status == 200, content
    assert json.loads(content)["status"] == "stored"
    assert WebhookEvent.objects.get(webhook_id="wh-entry").status == EventStatus.RECEIVED
    # No page machinery ran: no session, no CSRF cookie, no Vary on Cookie.
    assert "Set-Cookie" not in response_headers and "Cookie" not in response_headers.get("Vary", "")
    # The same delivery again is the usual duplicate, not a second row.
    assert json.loads(call("POST", "/webhooks/shopify/", body, headers)[2])["status"] == "duplicate"
    assert WebhookEvent.objects.filter(webhook_id="wh-entry").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_intake_handler_refuses_like_the_view_does_and_resolves_nothing_but_webhooks():
    body, headers = delivery("wh-forged")
    headers["X-Shopify-Hmac-Sha256"] = "forged"
    assert call("POST", "/webhooks/shopify/", body, headers)[0] == 401
    assert call("GET", "/webhooks/shopify/")[0] == 405
    assert call("POST", "/webhooks/nothing-here/", body, headers)[0] == 404
    # A path that starts like a delivery never reaches a console page through it.
    assert call("GET", "/webhooks/../admin/")[0] == 404
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_console_pages_still_run_the_console_middleware():
    status, headers, _ = call("GET", "/admin/login/")
    assert status == 200
    assert headers.get("X-Frame-Options") == "DENY"  # clickjacking middleware
    assert "csrftoken" in headers.get("Set-Cookie", "")  # CSRF middleware on the login form


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_intake_stores_through_a_connection_the_database_dropped():
    """The intake skips Django's per-request health check; a kept connection that the
    database closed (a restart, an idle timeout) costs one retry, not a refused delivery."""
    assert insert_event(provider="shopify", topic="t", webhook_id=f"wh-{uuid.uuid4()}", payload={}) is not None
    dropped = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [dropped])
    finally:
        other.close()
    pk = insert_event(provider="shopify", topic="t", webhook_id="wh-after-drop", payload={"ok": True})
    assert pk is not None
    assert connection.connection.info.backend_pid != dropped
    assert WebhookEvent.objects.get(pk=pk).payload == {"ok": True}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_intake_does_not_retry_on_a_live_connection_that_failed():
    """A lock timeout on a healthy connection is answered at once (503 upstream), not
    tried again on a new connection: only a connection that is gone earns the retry."""
    assert insert_event(provider="shopify", topic="t", webhook_id=f"wh-{uuid.uuid4()}", payload={}) is not None
    mine = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("LOCK TABLE webhooks_webhookevent IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
        with pytest.raises(OperationalError):
            insert_event(provider="shopify", topic="t", webhook_id="wh-locked", payload={})
        assert connection.connection is not None and connection.connection.info.backend_pid == mine
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert not WebhookEvent.objects.filter(webhook_id="wh-locked").exists()


@pytest.mark.django_db(transaction=True)
def test_the_intake_handler_refuses_a_host_outside_allowed_hosts():
    body, headers = delivery("wh-foreign-host")
    status, _, _ = call("POST", "/webhooks/shopify/", body, {**headers, "Host": "evil.example"})
    assert status == 400
    assert not WebhookEvent.objects.filter(webhook_id="wh-foreign-host").exists()
