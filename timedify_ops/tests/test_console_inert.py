"""Stored text shown in the terminal is inert: rich markup is printed as written, control
characters as escapes, in ops_dashboard and logs_watch."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timedify_ops.console import inert
from timedify_ops.models import JobRun
from webhooks.models import WebhookEvent

# Markup brackets, backslashes, ANSI escapes, bell and carriage return, and plain letters.
hostile = st.lists(st.sampled_from([*"[]/\\ab=#@:", "[bold]", "[/]", "[link=x]", "\x1b[31m", "\x07", "\r", "é"]),
                   min_size=1, max_size=6).map("".join).filter(lambda t: t.strip())


def dashboard() -> str:
    out = StringIO()
    try:
        call_command("ops_dashboard", stdout=out)
    except SystemExit:
        pass
    return out.getvalue()


def test_it_shows_control_characters_as_escapes():
    assert inert("a\x1b[31mb\x07").plain == "a\\x1b[31mb\\x07"
    assert inert("[bold]x[/]").plain == "[bold]x[/]"


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=hostile, summary=hostile)
def test_it_prints_stored_topics_and_summaries_as_written_in_ops_dashboard(topic, summary):
    WebhookEvent.objects.all().delete()
    JobRun.objects.all().delete()
    WebhookEvent.objects.create(topic=topic, webhook_id="w", received_at=timezone.now(), status="processed")
    JobRun.objects.create(task="retention_cleanup", status="ok", summary=summary)
    out = dashboard()
    assert inert(topic).plain in out
    assert inert(summary).plain in out
    assert "\x1b" not in out


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=hostile, shop=hostile, webhook_id=hostile)
def test_it_prints_stored_values_as_written_in_logs_watch(topic, shop, webhook_id):
    WebhookEvent.objects.all().delete()
    WebhookEvent.objects.create(topic=topic, shop_domain=shop, webhook_id=webhook_id)
    out = StringIO()
    call_command("logs_watch", "0", "--backlog", "1", stdout=out)
    line = out.getvalue().splitlines()[0]
    expected = " ".join([inert(topic).plain, inert(shop).plain, "received", "", inert(webhook_id).plain])
    assert line.endswith(expected)
    assert "\x1b" not in out.getvalue()
