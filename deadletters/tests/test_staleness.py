"""The staleness guard with out-of-order deliveries of one order: a dead letter whose
resource a newer processed delivery already brought is resolved as superseded, not replayed,
unless the operator includes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from deadletters import batch_run
from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter
from deadletters.replay import superseded
from deadletters.tests import factories
from webhooks import handlers
from webhooks.processing import process_event
from webhooks.tests.support import store_event

pytestmark = pytest.mark.django_db
ORDER = 450789469
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CHANGELIST = reverse("admin:deadletters_deadletter_changelist")


@pytest.fixture(autouse=True)
def orders_handler(flaky_handler):
    """orders/updated runs the test handler: it fails or succeeds as the switch says."""
    handlers.REGISTRY["orders/updated"] = factories.flaky_handler
    yield flaky_handler
    handlers.REGISTRY.pop("orders/updated", None)


def delivery(minutes: int | None, *, dies: bool, order: int = ORDER, shop: str = "one.myshopify.com",
             updated: str | None = None, topic: str = "orders/updated") -> int:
    """Store a delivery of the order, triggered `minutes` after T0, and process it."""
    payload = {"id": order, "name": "#1001", **({"updated_at": updated} if updated else {})}
    event = store_event(topic, payload, shop=shop, triggered_at=None if minutes is None else T0 + timedelta(minutes=minutes))
    factories.SWITCH.fail = dies
    assert process_event(event.pk) == ("dead" if dies else "processed")
    return event.pk


def letter(event_id: int) -> DeadLetter:
    return DeadLetter.objects.get(event_id=event_id)


def test_it_finds_what_a_newer_processed_delivery_of_the_same_order_superseded():
    old = delivery(0, dies=True)
    older = delivery(-5, dies=True)
    newer = delivery(5, dies=False)
    newest_but_dead = delivery(10, dies=True)
    other_order = delivery(1, dies=True, order=ORDER + 1)
    other_shop = delivery(-10, dies=True, shop="two.myshopify.com")
    ids = [letter(pk).pk for pk in (old, older, newest_but_dead, other_order, other_shop)]
    assert superseded(ids) == {letter(old).pk: newer, letter(older).pk: newer}


def test_it_compares_updated_at_in_the_payload_without_a_triggered_at():
    handlers.REGISTRY["orders/paid"] = factories.flaky_handler
    try:
        old = delivery(None, dies=True, updated="2026-11-20T10:00:00-05:00")
        newer = delivery(None, dies=False, updated="2026-11-20T10:01:00-05:00", topic="orders/paid")
        assert superseded([letter(old).pk]) == {letter(old).pk: newer}
    finally:
        handlers.REGISTRY.pop("orders/paid", None)


def test_a_batch_skips_superseded_dead_letters_and_resolves_them_with_a_link(admin_client):
    old = delivery(0, dies=True)
    newer = delivery(5, dies=False)
    lone = delivery(0, dies=True, order=ORDER + 7)
    factories.SWITCH.fail = False
    batch = ReplayBatch.start([letter(old).pk, letter(lone).pk], None, "two", enqueue=False)
    batch_run.run(batch)
    assert (batch.superseded, batch.ok, batch.done) == (1, 1, 2)
    stale = letter(old)
    assert stale.status == "resolved" and stale.note == f"superseded by delivery {newer}"
    assert stale.replays.get().outcome == "superseded" and factories.SWITCH.calls == 4  # 3 deliveries, 1 replay
    assert batch.items.get(dead_letter_id=stale.pk).superseded_by == newer
    page = admin_client.get(reverse("admin:deadletters_replaybatch_change", args=[batch.pk])).content.decode()
    assert f'href="/admin/webhooks/webhookevent/{newer}/change/"' in page


def test_a_batch_that_includes_superseded_ones_replays_them():
    old = delivery(0, dies=True)
    delivery(5, dies=False)
    factories.SWITCH.fail = False
    batch = ReplayBatch.start([letter(old).pk], None, "one", include_superseded=True, enqueue=False)
    batch_run.run(batch)
    assert (batch.ok, batch.superseded) == (1, 0) and letter(old).note == "resolved by replay"


def test_a_single_replay_warns_and_asks(admin_client):
    old = delivery(0, dies=True)
    newer = delivery(5, dies=False)
    dead_letter = letter(old)
    form = {"action": "replay", "_selected_action": [dead_letter.pk]}
    first = admin_client.post(CHANGELIST, form)
    page = first.content.decode()
    assert "replaying this one may write stale data" in page and f"delivery {newer}" in page
    assert 'name="include_superseded"' in page
    factories.SWITCH.fail = False
    done = admin_client.post(CHANGELIST, {**form, "post": "yes", "ids_token": first.context["ids_token"]}, follow=True)
    assert "1 dead letter replayed: superseded by a newer delivery (resolved)." in done.content.decode()
    assert letter(old).status == "resolved" and factories.SWITCH.calls == 2  # not replayed


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(-30, 30), st.booleans()), min_size=1, max_size=5, unique_by=lambda d: d[0]))
def test_a_dead_delivery_is_superseded_exactly_when_a_later_one_was_processed(deliveries):
    order = ORDER + 1000 + abs(hash(tuple(deliveries))) % 100_000  # a fresh order per example
    made = [(minutes, dies, delivery(minutes, dies=dies, order=order)) for minutes, dies in deliveries]
    dead = {letter(pk).pk: minutes for minutes, dies, pk in made if dies}
    found = superseded(list(dead))
    for dead_letter_id, minutes in dead.items():
        later_processed = [pk for m, dies, pk in made if not dies and m > minutes]
        assert (dead_letter_id in found) is bool(later_processed)
        if later_processed:
            assert found[dead_letter_id] in later_processed
