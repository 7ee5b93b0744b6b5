"""The forward handler and orders/create against a real HTTP endpoint on 127.0.0.1, and
the per-destination circuit breaker."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone
from django_q.models import OrmQ

from conftest import SHOPIFY_SECRET
from deadletters.models import DeadLetter
from webhooks import forwarding, processing
from webhooks.models import AttemptOutcome, BreakerState, EventStatus, ForwardDestination, TopicRoute, WebhookEvent
from webhooks.tests.support import Reply, endpoint, store_event
from webhooks.verify import shopify_hmac_valid

ORDER = {
    "id": 820982911946154508, "name": "#9999", "email": "jon@example.com", "total_price": "403.00",
    "currency": "USD", "line_items": [{"id": 866550311766439020, "title": "IPod Nano - 8GB", "quantity": 1}],
    "customer": {"id": 115310627314723954, "email": "jon@example.com", "first_name": "John", "last_name": "Smith"},
}


@pytest.fixture
def fast(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.01, 0.01, 0.01, 0.01]
    settings.FORWARD_BREAKER_THRESHOLD = 3
    settings.FORWARD_BREAKER_COOLDOWN_SECONDS = 1
    return settings


def route(topic: str, url: str, name: str = "app") -> ForwardDestination:
    dest = ForwardDestination.objects.create(name=name, url=url)
    TopicRoute.objects.create(topic=topic, destination=dest)
    return dest


@pytest.mark.django_db
def test_it_forwards_orders_create_to_the_app_with_a_fresh_hmac(fast):
    with endpoint(Reply(200)) as app:
        fast.APP_WEBHOOK_URL = app.url + "/webhooks/orders"
        event = store_event("orders/create", ORDER, webhook_id="wh-fwd-1")
        assert processing.process_event(event.pk) == EventStatus.PROCESSED
    [seen] = app.seen
    assert seen.path == "/webhooks/orders"
    assert json.loads(seen.body) == ORDER
    assert seen.headers["X-Shopify-Topic"] == "orders/create"
    assert seen.headers["X-Shopify-Webhook-Id"] == "wh-fwd-1"
    assert seen.headers["X-Shopify-Shop-Domain"] == "demo-shop.myshopify.com"
    assert shopify_hmac_valid(seen.body, seen.headers["X-Shopify-Hmac-Sha256"], [SHOPIFY_SECRET])
    assert "forwarded to app" in event.attempt_log.get().summary


@pytest.mark.django_db
def test_it_dead_letters_orders_create_at_once_when_no_app_url_is_set(fast):
    fast.APP_WEBHOOK_URL = ""
    event = store_event("orders/create", ORDER)
    assert processing.process_until_settled(event.pk) == EventStatus.DEAD
    letter = DeadLetter.objects.get(event=event)
    assert "APP_WEBHOOK_URL is not set" in letter.error_message
    assert len(letter.attempts) == 1


@pytest.mark.django_db
def test_it_routes_any_topic_by_settings_and_admin_route_wins(fast):
    with endpoint(Reply(200)) as default, endpoint(Reply(200)) as admin_dest:
        fast.WEBHOOK_FORWARD_ROUTES = {"products/update": default.url + "/p"}
        first = store_event("products/update", {"id": 632910392, "title": "IPod Nano"})
        assert processing.process_event(first.pk) == EventStatus.PROCESSED
        route("products/update", admin_dest.url + "/admin-route", name="admin-route")
        second = store_event("products/update", {"id": 632910392, "title": "IPod Nano 2"})
        assert processing.process_event(second.pk) == EventStatus.PROCESSED
    assert [s.path for s in default.seen] == ["/p"]
    assert [s.path for s in admin_dest.seen] == ["/admin-route"]
    assert ForwardDestination.objects.filter(name="settings: products/update").exists()


@pytest.mark.django_db
def test_it_retries_a_failing_destination_until_it_recovers(fast):
    fast.FORWARD_BREAKER_THRESHOLD = 5
    with endpoint(Reply(500, body=b"boom"), Reply(502), Reply(200)) as app:
        dest = route("products/create", app.url)
        event = store_event("products/create", {"id": 1})
        assert processing.process_until_settled(event.pk) == EventStatus.PROCESSED
    assert len(app.seen) == 3
    outcomes = list(event.attempt_log.order_by("number").values_list("outcome", "error_message"))
    assert outcomes[0] == (AttemptOutcome.FAILED, "HTTP 500 from " + app.url + ": boom")
    assert outcomes[2][0] == AttemptOutcome.OK
    dest.refresh_from_db()
    assert (dest.state, dest.consecutive_failures) == (BreakerState.CLOSED, 0)


@pytest.mark.django_db
def test_it_gives_up_on_a_destination_that_does_not_answer_in_time(fast):
    fast.FORWARD_TIMEOUT = 0.3
    fast.WEBHOOK_RETRY_DELAYS = [0.01]
    with endpoint(Reply(200, delay=1.0)) as slow:
        route("products/delete", slow.url)
        event = store_event("products/delete", {"id": 1})
        started = time.monotonic()
        assert processing.process_until_settled(event.pk) == EventStatus.DEAD
        elapsed = time.monotonic() - started
    assert elapsed < 1.9  # two attempts of 0.3 s (and a loaded machine), not two of 1 s
    assert "ReadTimeout" in DeadLetter.objects.get(event=event).error_message


@pytest.mark.django_db
def test_it_sends_nothing_in_a_dry_run(fast):
    with endpoint(Reply(200)) as app:
        route("products/create", app.url)
        event = store_event("products/create", {"id": 1})
        result = processing.dry_run_event(event)
    assert result.ok and "dry run: would POST" in result.summary
    assert app.seen == []


@pytest.mark.django_db
def test_it_opens_the_breaker_then_probes_once_and_closes(fast):
    with endpoint(Reply(503)) as app:
        dest = route("products/create", app.url)
        first = store_event("products/create", {"id": 1})
        # Three failures open the breaker: the event waits instead of dying.
        assert processing.process_until_settled(first.pk) == "deferred"
        dest.refresh_from_db()
        assert dest.state == BreakerState.OPEN and dest.consecutive_failures == 3
        first.refresh_from_db()
        assert first.status == EventStatus.RECEIVED and first.next_attempt_at > timezone.now()
        assert not DeadLetter.objects.exists()
        # While open, nothing is sent.
        second = store_event("products/create", {"id": 2})
        assert processing.process_event(second.pk) == "deferred"
        assert len(app.seen) == 3
        # After the cool-down one probe goes through; it fails: open again.
        ForwardDestination.objects.filter(pk=dest.pk).update(opened_at=timezone.now() - timedelta(seconds=2))
        WebhookEvent.objects.update(next_attempt_at=timezone.now())
        assert processing.process_event(first.pk) == "deferred"
        assert len(app.seen) == 4
        dest.refresh_from_db()
        assert dest.state == BreakerState.OPEN
        # The endpoint recovers: the next probe closes the breaker.
        app.script(Reply(200))
        ForwardDestination.objects.filter(pk=dest.pk).update(opened_at=timezone.now() - timedelta(seconds=2))
        WebhookEvent.objects.update(next_attempt_at=timezone.now())
        assert processing.process_event(first.pk) == EventStatus.PROCESSED
        dest.refresh_from_db()
        assert (dest.state, dest.consecutive_failures) == (BreakerState.CLOSED, 0)
        assert processing.process_event(second.pk) == EventStatus.PROCESSED
    assert len(app.seen) == 6


@pytest.mark.django_db
def test_it_lets_only_one_worker_take_the_half_open_probe(fast):
    dest = ForwardDestination.objects.create(
        name="x", url="http://127.0.0.1:9/", state=BreakerState.OPEN,
        opened_at=timezone.now() - timedelta(seconds=5),
    )
    # A second worker read the row (open, past its cool-down) before the first one
    # claimed the probe; its own read is the one it acts on (refresh=False: just read).
    stale = ForwardDestination.objects.get(pk=dest.pk)
    assert dest.admit() is True
    from webhooks.errors import RetryLater

    with pytest.raises(RetryLater, match="another worker is probing"):
        stale.admit(refresh=False)
    dest.refresh_from_db()
    assert dest.state == BreakerState.HALF_OPEN


@pytest.mark.django_db
def test_it_holds_events_while_paused_and_releases_them_on_resume(
    fast, admin_client, admin_user, django_capture_on_commit_callbacks
):
    with endpoint(Reply(200)) as app:
        dest = route("products/create", app.url)
        url = "/admin/webhooks/forwarddestination/"
        form = {"action": "pause_breakers", "_selected_action": [dest.pk]}
        asked = admin_client.post(url, form)  # pausing asks first, for a note
        assert asked.status_code == 200 and b"Note (required)" in asked.content
        assert admin_client.post(url, {**form, "post": "yes", "note": " "}).status_code == 200  # a blank note is refused
        dest.refresh_from_db()
        assert not dest.paused
        response = admin_client.post(url, {**form, "post": "yes", "note": "upstream maintenance"})
        assert response.status_code == 302
        dest.refresh_from_db()
        assert dest.paused and dest.paused_by == admin_user
        event = store_event("products/create", {"id": 1})
        assert processing.process_event(event.pk) == "deferred"
        assert app.seen == []
        event.refresh_from_db()
        assert event.status == EventStatus.RECEIVED and event.next_attempt_at > timezone.now()
        assert event.waiting_for == f"destination:{dest.pk}"
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(url, {"action": "resume_breakers", "_selected_action": [dest.pk]})
        dest.refresh_from_db()
        assert not dest.paused
        event.refresh_from_db()
        assert event.next_attempt_at <= timezone.now()  # released at once, not after the recheck
        assert event.waiting_for == ""
        # Handed to the workers at once: a task due now (the one written for the recheck
        # is still invisible), found by the column, not by the text of its last error.
        assert OrmQ.objects.filter(lock__lte=timezone.now()).count() == 1
        assert processing.process_event(event.pk) == EventStatus.PROCESSED
    assert len(app.seen) == 1
    logs = LogEntry.objects.filter(object_id=str(dest.pk)).order_by("pk")
    assert [entry.get_change_message() for entry in logs] == ["Paused: upstream maintenance", "Resumed"]


@pytest.mark.django_db
def test_it_shows_the_breaker_state_in_the_admin(admin_client):
    ForwardDestination.objects.create(name="app-orders", url="http://127.0.0.1:9/", state=BreakerState.OPEN)
    response = admin_client.get("/admin/webhooks/forwarddestination/")
    assert response.status_code == 200
    assert "Open (deliveries wait)" in response.content.decode()


@pytest.mark.django_db
def test_it_closes_a_breaker_by_hand_from_the_admin(admin_client):
    dest = ForwardDestination.objects.create(
        name="app", url="http://127.0.0.1:9/", state=BreakerState.OPEN, consecutive_failures=7,
        opened_at=timezone.now(),
    )
    response = admin_client.post(
        "/admin/webhooks/forwarddestination/", {"action": "close_breakers", "_selected_action": [dest.pk]}
    )
    assert response.status_code == 302
    dest.refresh_from_db()
    assert (dest.state, dest.consecutive_failures, dest.opened_at) == (BreakerState.CLOSED, 0, None)
    assert LogEntry.objects.get(object_id=str(dest.pk)).get_change_message() == "Closed the circuit breaker by hand"


@pytest.mark.django_db
def test_a_worker_sees_a_new_route_within_the_cache_time(settings):
    """Other processes learn of a route through the cache's expiry, not a signal."""
    settings.WEBHOOK_ROUTE_CACHE_SECONDS = 3600
    assert "orders/paid" not in forwarding.routed_topics()
    dest = ForwardDestination.objects.create(name="elsewhere", url="http://127.0.0.1:9/hook")
    # Written behind the ORM's back, as another process's save would look from here.
    TopicRoute.objects.bulk_create([TopicRoute(topic="orders/paid", destination=dest, enabled=True)])
    assert "orders/paid" not in forwarding.routed_topics()  # still trusted
    settings.WEBHOOK_ROUTE_CACHE_SECONDS = 0
    assert "orders/paid" in forwarding.routed_topics()
    # A save in this process is seen at once, whatever the cache time.
    settings.WEBHOOK_ROUTE_CACHE_SECONDS = 3600
    TopicRoute.objects.filter(topic="orders/paid").update(enabled=False)
    TopicRoute.objects.get(topic="orders/paid").save()
    assert "orders/paid" not in forwarding.routed_topics()
