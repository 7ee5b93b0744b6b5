"""DeadLetter behaviour: replay, dry run, resolve, ignore, error groups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deadletters.models import DeadLetter, ReplayRecord
from deadletters.replay import replay_one
from deadletters.tests.factories import make_dead_letters
from webhooks.models import EventAttempt, WebhookEvent

pytestmark = pytest.mark.django_db


def test_it_opens_a_dead_letter_with_the_evidence_through_the_real_path():
    (dl,) = make_dead_letters(payload={"id": 77})
    assert dl.status == "open"
    assert dl.error_class == "RuntimeError"
    assert dl.error_message == "upstream refused order 77 (HTTP 502)"
    assert "Traceback" in dl.traceback and "flaky_handler" in dl.traceback
    assert dl.event.status == "dead"
    assert [a["outcome"] for a in dl.attempts] == ["failed"]


def test_it_resolves_on_a_successful_replay_and_marks_the_event_processed(flaky_handler):
    (dl,) = make_dead_letters()
    user = User.objects.create_user("ann")
    flaky_handler.fail = False
    record = replay_one(dl, user, source="admin")
    dl.refresh_from_db()
    assert record.outcome == "ok" and record.actor == user and not record.dry_run
    assert dl.status == "resolved" and dl.resolved_at is not None and dl.resolved_by == user
    assert dl.note == "resolved by replay"
    assert dl.replay_count == 1
    assert WebhookEvent.objects.get(pk=dl.event_id).status == "processed"
    assert EventAttempt.objects.filter(event_id=dl.event_id, trigger="replay", outcome="ok").count() == 1


def test_it_keeps_it_open_with_the_new_error_when_a_replay_fails(flaky_handler):
    (dl,) = make_dead_letters(payload={"id": 5})
    flaky_handler.message = "still broken for {order}"
    record = replay_one(dl, None, source="command")
    dl.refresh_from_db()
    assert record.outcome == "failed" and "still broken for 5" in record.error
    assert dl.status == "open" and dl.replay_count == 1
    assert dl.last_replay_error == "RuntimeError: still broken for 5"
    assert dl.error_message == "still broken for 5"
    assert [a["trigger"] for a in dl.attempts] == ["worker", "command"]
    assert WebhookEvent.objects.get(pk=dl.event_id).status == "dead"
    assert list(dl.replays.values_list("outcome", "source")) == [("failed", "command")]


def test_it_skips_a_dead_letter_another_replay_holds(flaky_handler):
    (dl,) = make_dead_letters()
    DeadLetter.objects.filter(pk=dl.pk).update(
        status="replaying", replay_lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    calls = flaky_handler.calls
    record = replay_one(dl, None)
    assert record.outcome == "skipped"
    assert flaky_handler.calls == calls
    assert DeadLetter.objects.get(pk=dl.pk).status == "replaying"


def test_it_takes_over_a_replay_whose_lease_lapsed(flaky_handler):
    (dl,) = make_dead_letters()
    DeadLetter.objects.filter(pk=dl.pk).update(
        status="replaying", replay_lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    flaky_handler.fail = False
    assert replay_one(dl, None).outcome == "ok"
    assert DeadLetter.objects.get(pk=dl.pk).status == "resolved"


def test_it_resolves_a_dead_letter_whose_event_was_processed_meanwhile(flaky_handler):
    (dl,) = make_dead_letters()
    WebhookEvent.objects.filter(pk=dl.event_id).update(status="processed")
    record = replay_one(dl, None)
    assert record.outcome == "ok" and "already processed" in record.summary
    assert DeadLetter.objects.get(pk=dl.pk).status == "resolved"


def test_it_dry_runs_without_changing_anything(flaky_handler):
    (dl,) = make_dead_letters()
    flaky_handler.fail = False
    before = flaky_handler.calls
    record = dl.dry_run(None)
    dl.refresh_from_db()
    assert flaky_handler.calls == before + 1
    assert record.dry_run and record.outcome == "ok" and "handled" in record.summary
    assert dl.status == "open" and dl.replay_count == 0
    assert WebhookEvent.objects.get(pk=dl.event_id).status == "dead"
    flaky_handler.fail = True
    failing = dl.dry_run(None)
    assert failing.outcome == "failed" and "RuntimeError" in failing.error
    assert ReplayRecord.objects.filter(dead_letter=dl, dry_run=True).count() == 2


def test_it_requires_a_note_to_resolve_or_ignore():
    first, second = make_dead_letters(2)
    with pytest.raises(ValueError):
        first.resolve(None, "  ")
    assert first.resolve(None, "fixed by hand in the shop")
    assert second.ignore(None, "test shop")
    assert DeadLetter.objects.get(pk=first.pk).note == "fixed by hand in the shop"
    assert DeadLetter.objects.get(pk=second.pk).status == "ignored"
    assert not first.resolve(None, "twice")  # no longer open


def test_it_groups_errors_by_exception_message_shape_and_topic(flaky_handler):
    make_dead_letters(3)  # order ids differ, the message shape is the same
    flaky_handler.message = "something else"
    make_dead_letters(1)
    groups = list(DeadLetter.objects.error_groups())
    assert [g["count"] for g in groups] == [3, 1]
    assert groups[0]["error_class"] == "RuntimeError"
