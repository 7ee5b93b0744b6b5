"""seed_demo gives a newcomer a living console: every outcome, real failures."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from deadletters.models import DeadLetter, DeadLetterStatus
from webhooks.models import EventStatus, WebhookEvent


@pytest.mark.django_db
def test_it_seeds_processed_ignored_and_dead_events_with_real_tracebacks():
    out = StringIO()
    call_command("seed_demo", "--count", "120", stdout=out)
    assert WebhookEvent.objects.count() == 120
    statuses = set(WebhookEvent.objects.values_list("status", flat=True))
    assert {EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.DEAD} <= statuses
    dead = DeadLetter.objects.filter(status=DeadLetterStatus.OPEN)
    assert dead.count() == WebhookEvent.objects.filter(status=EventStatus.DEAD).count() > 0
    letter = dead.first()
    assert letter is not None
    assert "Traceback (most recent call last)" in letter.traceback
    assert letter.attempts and letter.attempts[0]["outcome"] == "failed"
    assert WebhookEvent.objects.values("shop_domain").distinct().count() >= 3
    assert "Seeded 120 demo events" in out.getvalue()
