"""Replay to another destination: a forwarded topic replayed to a destination chosen at
confirmation (a fixed build of the app) instead of its route's; the attempt says where."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from deadletters import batch_run
from deadletters.batches import ReplayBatch
from deadletters.tests.factories import bulk_dead_letters
from webhooks.models import EventAttempt, ForwardDestination, TopicRoute
from webhooks.tests.support import endpoint

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:deadletters_deadletter_changelist")


def test_it_replays_a_forwarded_topic_to_the_chosen_destination(admin_client):
    with endpoint() as routed, endpoint() as fixed:
        usual = ForwardDestination.objects.create(name="app", url=routed.url + "/hooks")
        build = ForwardDestination.objects.create(name="app-fixed-build", url=fixed.url + "/hooks")
        TopicRoute.objects.create(topic="carts/update", destination=usual)
        (dead_letter,) = bulk_dead_letters(1, topic="carts/update")
        form = {"action": "replay", "_selected_action": [dead_letter.pk]}
        first = admin_client.post(CHANGELIST, form)
        page = first.content.decode()
        assert 'name="destination"' in page and "app-fixed-build" in page
        admin_client.post(CHANGELIST, {**form, "post": "yes", "ids_token": first.context["ids_token"],
                                       "destination": str(build.pk)})
        assert routed.seen == [] and len(fixed.seen) == 1
        assert fixed.seen[0].headers["X-Shopify-Topic"] == "carts/update"
        assert json.loads(fixed.seen[0].body) == dead_letter.event.payload
    dead_letter.refresh_from_db()
    attempt = EventAttempt.objects.get(event_id=dead_letter.event_id, trigger="replay")
    assert dead_letter.status == "resolved" and "app-fixed-build" in attempt.summary
    assert "app-fixed-build" in dead_letter.replays.get().summary


def test_a_batch_sends_to_its_destination_and_a_failure_names_it():
    with endpoint() as routed:
        usual = ForwardDestination.objects.create(name="app", url=routed.url + "/hooks")
        # Nothing listens on port 9 of the loopback: the chosen destination refuses.
        down = ForwardDestination.objects.create(name="down-build", url="http://127.0.0.1:9/hooks")
        TopicRoute.objects.create(topic="carts/update", destination=usual)
        ids = [d.pk for d in bulk_dead_letters(2, topic="carts/update")]
        batch = ReplayBatch.start(ids, None, "two", destination=down, enqueue=False)
        batch_run.run(batch)
        assert routed.seen == []
    assert batch.failed == 2 and batch.outcome == ("failed", "all failed")
    for attempt in EventAttempt.objects.filter(trigger="replay"):
        assert "127.0.0.1" in attempt.error_message and "9" in attempt.error_message


def test_it_refuses_a_destination_that_does_not_exist_and_replays_nothing(admin_client, flaky_handler):
    (dead_letter,) = bulk_dead_letters(1)
    form = {"action": "replay", "_selected_action": [dead_letter.pk]}
    first = admin_client.post(CHANGELIST, form)
    response = admin_client.post(CHANGELIST, {**form, "post": "yes", "ids_token": first.context["ids_token"],
                                              "destination": "424242"}, follow=True)
    assert "Nothing was replayed: That forward destination does not exist" in response.content.decode()
    assert flaky_handler.calls == 0
