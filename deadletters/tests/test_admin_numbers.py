"""Numbers typed into the admin are checked where they enter: the dead-letter clean-up's day
count and a schedule's minutes show a form error and change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadletters.models import DeadLetter
from deadletters.tests.factories import make_dead_letters

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_topic_breaker(request: pytest.FixtureRequest) -> None:
    """Dozens of dead letters of one test topic: the topic breaker (tested on its own) must
    not start deferring them."""
    request.getfixturevalue("settings").TOPIC_BREAKER_THRESHOLD = 1_000_000
CHANGELIST = reverse("admin:deadletters_deadletter_changelist")

bad_days = st.one_of(
    st.integers(max_value=-1).map(str),
    st.integers(min_value=36_501, max_value=10**30).map(str),
    st.sampled_from(["", "ten", "1e9", "nan", "2.5", "99999999999"]),
)


def cleanup(client, ids, days, **extra):
    # From the list of all dead letters: the default list shows the open ones only.
    return client.post(f"{CHANGELIST}?status=all", {"action": "cleanup", "_selected_action": ids, "days": days, **extra})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=bad_days)
def test_it_shows_a_form_error_for_a_bad_day_count_and_deletes_nothing(admin_client, days):
    (done,) = make_dead_letters(1)
    done.resolve(None, "fixed")
    DeadLetter.objects.filter(pk=done.pk).update(updated_at=timezone.now() - timedelta(days=400))
    first = cleanup(admin_client, [done.pk], days)
    assert first.status_code == 200
    assert "Days: " in first.context["error"]
    assert first.context["count"] == 0
    # Confirming that page (or forcing the token of a good one) deletes nothing either.
    good = cleanup(admin_client, [done.pk], "30")
    forced = cleanup(admin_client, [done.pk], days, post="yes", ids_token=good.context["ids_token"])
    assert forced.status_code == 200 and forced.context["error"]
    assert DeadLetter.objects.filter(pk=done.pk).exists()
    DeadLetter.objects.all().delete()


def test_it_cleans_up_whatever_the_age_with_0_days(admin_client):
    done, still_open = make_dead_letters(2)
    done.resolve(None, "fixed")
    first = cleanup(admin_client, [done.pk, still_open.pk], "0")
    assert first.context["count"] == 1
    confirmed = cleanup(admin_client, [done.pk, still_open.pk], "0", post="yes", ids_token=first.context["ids_token"])
    assert confirmed.status_code == 302
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [still_open.pk]


@pytest.mark.parametrize(("minutes", "repeats", "error"), [
    ("-5", "-1", "minutes"), ("0", "-1", "minutes"), ("99999999999", "-1", "minutes"), ("5", "-2", "repeats"),
    ("7", "0", None),
])
def test_it_refuses_a_schedule_with_absurd_numbers(admin_client, minutes, repeats, error):
    schedule = Schedule.objects.create(name="numbers", func="timedify_ops.jobs.run_job", schedule_type=Schedule.MINUTES,
                                       minutes=5, repeats=-1)
    url = reverse("admin:django_q_schedule_change", args=[schedule.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(minutes=minutes, repeats=repeats, next_run_0="2030-01-01", next_run_1="00:00:00")
    response = admin_client.post(url, data)
    schedule.refresh_from_db()
    if error is None:
        assert response.status_code == 302
        assert (schedule.minutes, schedule.repeats) == (7, 0)
        return
    assert list(response.context["adminform"].form.errors) == [error]
    assert (schedule.minutes, schedule.repeats) == (5, -1)
