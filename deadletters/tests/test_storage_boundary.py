"""Dead letters, their replay records and notes store any text a handler or a person gives:
NUL and lone surrogates replaced, cut to each field's own length, on both databases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadletters.models import DeadLetter, ReplayRecord
from deadletters.receivers import open_dead_letter
from deadletters.tests.factories import make_dead_letters
from webhooks import textsafe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_topic_breaker(request: pytest.FixtureRequest) -> None:
    """Dozens of dead letters of one test topic: the topic breaker (tested on its own) must
    not start deferring them."""
    request.getfixturevalue("settings").TOPIC_BREAKER_THRESHOLD = 1_000_000
anything = st.text(st.characters(exclude_categories=()), max_size=400)
HUGE = "x\x00\ud800" * 40_000


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(error_class=anything, message=anything, trace=anything)
def test_it_opens_a_dead_letter_for_any_failure_text(admin_client, error_class, message, trace):
    (dead_letter,) = make_dead_letters(1)
    result = SimpleNamespace(error_class=error_class + HUGE, error_message=message + HUGE, traceback=trace + HUGE)
    open_dead_letter(sender=type(dead_letter.event), event=dead_letter.event, result=result)
    stored = DeadLetter.objects.get(pk=dead_letter.pk)
    assert stored.error_class == textsafe.for_field(DeadLetter, "error_class", error_class + HUGE)
    assert stored.error_message == textsafe.for_field(DeadLetter, "error_message", message + HUGE)
    assert admin_client.get(reverse("admin:deadletters_deadletter_change", args=[stored.pk])).status_code == 200
    assert admin_client.get(reverse("admin:deadletters_deadletter_changelist")).status_code == 200


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=anything.filter(lambda n: textsafe.clean(n).strip()))
def test_it_stores_any_note(note):
    (dead_letter,) = make_dead_letters(1)
    assert dead_letter.resolve(None, note + HUGE)
    assert DeadLetter.objects.get(pk=dead_letter.pk).note == textsafe.for_field(DeadLetter, "note", (note + HUGE).strip())


def test_it_stores_a_replay_record_of_any_error_text():
    (dead_letter,) = make_dead_letters(1)
    record = ReplayRecord.build(dead_letter, None, "command\x00" * 10, "failed", 1.0, error="e\x00" + HUGE,
                                summary="s\ud800" * 600, traceback="t\x00")
    record.save()
    stored = ReplayRecord.objects.get(pk=record.pk)
    assert "\x00" not in stored.error + stored.summary + stored.source
    assert len(stored.summary) == 500 and len(stored.source) == 20
