"""Edit and replay: its own permission, the diff, a revision that the replay runs on, the
received payload never changed, and privacy requests that cover revisions."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from deadletters.edit import replay_edited
from deadletters.models import DeadLetter
from deadletters.tests.factories import make_dead_letters, staff_user
from webhooks.models import EventAttempt, WebhookEvent
from webhooks.revisions import PayloadRevision, diff, storable
from webhooks.signals import collect_customer_data, customer_redacted, shop_redacted

pytestmark = pytest.mark.django_db


def edit_url(dead_letter: DeadLetter) -> str:
    return reverse("admin:deadletters_deadletter_edit_replay", args=[dead_letter.pk])


def grant_edit(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="edit_and_replay", content_type__app_label="webhooks"))


@pytest.mark.parametrize(("who", "allowed"), [("viewer", False), ("support", False), ("support+edit", True),
                                              ("superuser", True)])
def test_it_lets_only_holders_of_the_edit_permission_in(client, admin_user, who, allowed):
    (dead_letter,) = make_dead_letters()
    if who == "superuser":
        user = admin_user
    else:
        user = staff_user(who.replace("+", "-"), "Viewer" if who == "viewer" else "Support")
        if who == "support+edit":
            grant_edit(user)
    client.force_login(user)
    page = client.get(reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk])).content.decode()
    assert ('id="edit-replay-button"' in page) is allowed
    assert client.get(edit_url(dead_letter)).status_code == (200 if allowed else 403)
    posted = client.post(edit_url(dead_letter), {"payload": '{"id": 7}', "reason": "x", "replay": "1"})
    assert (posted.status_code == 302) is allowed
    assert PayloadRevision.objects.exists() is allowed


def test_it_shows_the_diff_and_replays_on_the_revision_leaving_the_received_payload(admin_client, admin_user, flaky_handler):
    (dead_letter,) = make_dead_letters(payload={"id": 1000, "email": "jon@example.com", "note": "bad"})
    received = dict(dead_letter.event.payload)
    flaky_handler.fail, flaky_handler.fail_orders = False, {1000}  # the received payload fails
    edited = {**received, "id": 2000}
    preview = admin_client.post(edit_url(dead_letter), {"payload": json.dumps(edited), "reason": "", "preview": "1"})
    page = preview.content.decode()
    assert '-  &quot;id&quot;: 1000,' in page and '+  &quot;id&quot;: 2000,' in page
    assert not PayloadRevision.objects.exists()
    refused = admin_client.post(edit_url(dead_letter), {"payload": json.dumps(edited), "reason": " ", "replay": "1"})
    assert "A reason is required" in refused.content.decode() and not PayloadRevision.objects.exists()
    broken = admin_client.post(edit_url(dead_letter), {"payload": '{"id": ', "reason": "r", "replay": "1"})
    assert "This is not valid JSON" in broken.content.decode() and '{&quot;id&quot;: ' in broken.content.decode()

    done = admin_client.post(edit_url(dead_letter), {"payload": json.dumps(edited), "reason": "wrong order id",
                                                     "replay": "1"})
    assert done.status_code == 302
    dead_letter.refresh_from_db()
    revision = PayloadRevision.objects.get()
    assert (revision.number, revision.payload, revision.reason, revision.created_by) == (1, edited, "wrong order id", admin_user)
    assert dead_letter.status == "resolved"
    assert WebhookEvent.objects.get(pk=dead_letter.event_id).payload == received
    record = dead_letter.replays.get()
    assert record.payload_revision == revision and record.source == "edit"
    assert EventAttempt.objects.filter(event_id=dead_letter.event_id, trigger="revision 1", outcome="ok").exists()
    history = admin_client.get(reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk])).content.decode()
    assert "replay on payload revision 1" in history
    # The reason is free text (it may quote a customer): kept on the revision, not logged.
    from django.contrib.admin.models import LogEntry

    logged = " ".join(LogEntry.objects.values_list("change_message", flat=True))
    assert "Edited the payload (revision 1)" in logged and "wrong order id" not in logged


@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.dictionaries(st.text(min_size=1, max_size=8),
                             st.one_of(st.integers(), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3)),
                             max_size=4))
@example(extra={"0": "\x00", "k\ud800": ["\udfff"]})  # what neither database stores
def test_the_received_payload_never_changes_and_the_handler_sees_the_edit(flaky_handler, extra):
    (dead_letter,) = make_dead_letters(payload={"id": 1000})
    flaky_handler.fail, flaky_handler.fail_orders = False, {1000}
    edited = {**extra, "id": 3000}
    record = replay_edited(dead_letter, edited, "because", None)
    # Stored as typed, except what no database can hold (NUL, lone surrogates: U+FFFD).
    assert record.outcome == "ok" and record.payload_revision.payload == storable(edited)
    assert WebhookEvent.objects.get(pk=dead_letter.event_id).payload == {"id": 1000}
    assert (diff({"id": 1000}, edited) == []) is (edited == {"id": 1000})


def test_privacy_requests_cover_revisions(flaky_handler):
    (dead_letter,) = make_dead_letters(payload={"id": 1000, "email": "jon@example.com"})
    replay_edited(dead_letter, {"id": 1000, "email": "jon@example.com", "fixed": True,
                                "customer": {"id": 7, "first_name": "Jonathan"}}, "add fixed", None)
    shop = dead_letter.shop_domain
    answers = collect_customer_data.send(sender=WebhookEvent, shop_domain=shop, customer_id="7", event_ids=[])
    section = next(answer for _, answer in answers if answer["section"] == "payload_revisions")
    assert section["items"][0]["payload"]["fixed"] is True
    customer_redacted.send(sender=WebhookEvent, shop_domain=shop, customer_id="7", needles=["jon@example.com"])
    revision = PayloadRevision.objects.get()
    text = json.dumps(revision.payload)
    assert "jon@example.com" not in text and "Jonathan" not in text and revision.payload["fixed"] is True
    shop_redacted.send(sender=WebhookEvent, shop_domain=shop)
    revision.refresh_from_db()
    assert revision.payload == {}
    WebhookEvent.objects.filter(pk=dead_letter.event_id).update(status="processed")
    DeadLetter.objects.all().delete()
    deletion = WebhookEvent.objects.filter(pk=dead_letter.event_id).delete_in_batches(10)
    assert deletion.deleted["webhooks.PayloadRevision"] == 1  # retention takes them with the event
    assert not PayloadRevision.objects.exists()


@pytest.mark.parametrize("text", ['{"total": NaN}', '{"a": Infinity}', "[1, 2]", '{"a": ' * 300 + "1" + "}" * 300])
def test_it_refuses_what_a_delivery_could_not_carry(admin_client, text):
    """The intake's rules apply to an edited payload: no NaN or Infinity (no database stores
    them), an object, and the nesting limit; an answer in words, never a 500."""
    dead_letter = make_dead_letters()[0]
    page = admin_client.post(edit_url(dead_letter), {"payload": text, "reason": "r", "replay": "1"})
    assert page.status_code == 200
    assert "This is not valid JSON" in page.content.decode() or "must be a JSON object" in page.content.decode()
    assert not PayloadRevision.objects.exists()


def test_it_answers_a_typed_id_that_is_no_number_with_not_found(admin_client):
    assert admin_client.get("/admin/deadletters/deadletter/abc/edit-replay/").status_code == 404
    batch_page = admin_client.get("/admin/deadletters/replaybatch/abc/change/")
    assert batch_page.status_code == 302  # Django's own "doesn't exist" message on the list
