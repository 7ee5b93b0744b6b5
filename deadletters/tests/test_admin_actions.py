"""Every dead-letter admin action, posted the way the browser does, with its confirmation."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from deadletters.admin import actions as actions_module
from deadletters.admin import dead_letters as admin_module
from deadletters.admin.actions import DeadLetterActions
from deadletters.admin.dead_letters import DeadLetterAdmin
from deadletters.models import DeadLetter, ReplayRecord
from deadletters.replay import replay_one
from deadletters.tests.factories import make_dead_letters

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:deadletters_deadletter_changelist")


def run_action(client, action, ids, url=CHANGELIST, **fields):
    """First POST: the confirmation page. Second POST: confirmed. Returns both responses."""
    first = client.post(url, {"action": action, "_selected_action": ids, **fields})
    assert first.status_code == 200, first.content[:500]
    token = first.context["ids_token"]
    second = client.post(url, {"action": action, "_selected_action": ids, "post": "yes", "ids_token": token, **fields})
    return first, second


def defined_actions(*namespaces):
    """Functions shaped like admin actions: (modeladmin, request, queryset)."""
    found = set()
    for namespace in namespaces:
        for name, func in vars(namespace).items():
            if inspect.isfunction(func) and list(inspect.signature(func).parameters)[-2:] == ["request", "queryset"]:
                found.add(name)
    return found


def test_it_registers_every_admin_action_defined_in_the_module():
    defined = defined_actions(DeadLetterAdmin, DeadLetterActions, admin_module, actions_module)
    assert {"replay", "dry_run", "resolve", "ignore", "reopen", "cleanup"} <= defined  # the finder works
    assert defined <= set(DeadLetterAdmin.actions), f"defined but not registered: {defined - set(DeadLetterAdmin.actions)}"


def test_it_replays_selected_after_a_confirmation_showing_count_and_sample(admin_client, admin_user, flaky_handler):
    one, two = make_dead_letters(2, shop="replay-shop.myshopify.com")
    flaky_handler.fail = False
    first = admin_client.post(CHANGELIST, {"action": "replay", "_selected_action": [one.pk, two.pk]})
    assert first.context["count"] == 2
    assert b"replay-shop.myshopify.com" in first.content
    assert DeadLetter.objects.get(pk=one.pk).status == "open"  # nothing before confirming
    second = admin_client.post(CHANGELIST, {"action": "replay", "_selected_action": [one.pk, two.pk], "post": "yes",
                                            "ids_token": first.context["ids_token"]})
    assert second.status_code == 302
    assert set(DeadLetter.objects.filter(pk__in=[one.pk, two.pk]).values_list("status", flat=True)) == {"resolved"}
    assert ReplayRecord.objects.get(dead_letter=one, dry_run=False).actor == admin_user
    log = LogEntry.objects.get(object_id=str(one.pk), user=admin_user)
    assert "Replayed" in log.change_message


def test_it_reports_a_failed_replay_and_keeps_it_open(admin_client):
    (dl,) = make_dead_letters()
    _, second = run_action(admin_client, "replay", [dl.pk])
    dl.refresh_from_db()
    assert dl.status == "open" and dl.replay_count == 1
    page = admin_client.get(second["Location"])
    assert b"1 dead letter replayed: failed again." in page.content


def test_it_replays_everything_matching_the_filter_frozen_at_confirmation(admin_client, flaky_handler):
    """The one "replay all matching" entry point: the changelist's button (the filter in
    its query string); the set is frozen when the confirmation is shown."""
    a, b = make_dead_letters(2, shop="filtered.myshopify.com")
    other = make_dead_letters(1, shop="elsewhere.myshopify.com")[0]
    url = reverse("admin:deadletters_deadletter_replay_matching") + "?shop_domain=filtered.myshopify.com"
    first = admin_client.post(url)
    assert first.context["count"] == 2
    late = make_dead_letters(1, shop="filtered.myshopify.com")[0]  # fails while the page is open
    flaky_handler.fail = False
    admin_client.post(url, {"post": "yes", "ids_token": first.context["ids_token"]})
    status = dict(DeadLetter.objects.values_list("pk", "status"))
    assert status[a.pk] == status[b.pk] == "resolved"
    assert status[late.pk] == "open" and status[other.pk] == "open"
    assert "replay_matching" not in DeadLetterAdmin.actions  # no second way to the same thing


def test_it_dry_runs_and_shows_the_outcome_without_changing_anything(admin_client, flaky_handler):
    (dl,) = make_dead_letters()
    _, results = run_action(admin_client, "dry_run", [dl.pk])
    assert results.status_code == 200
    assert b"fail" in results.content and b"upstream refused" in results.content
    dl.refresh_from_db()
    assert dl.status == "open" and dl.replay_count == 0
    assert ReplayRecord.objects.get(dead_letter=dl).dry_run


@pytest.mark.parametrize("action,status", [("resolve", "resolved"), ("ignore", "ignored")])
def test_it_resolves_or_ignores_with_a_required_note(admin_client, admin_user, action, status):
    (dl,) = make_dead_letters()
    first, without_note = run_action(admin_client, action, [dl.pk])
    assert without_note.status_code == 200 and b"A note is required" in without_note.content
    assert DeadLetter.objects.get(pk=dl.pk).status == "open"
    admin_client.post(CHANGELIST, {"action": action, "_selected_action": [dl.pk], "post": "yes",
                                   "ids_token": first.context["ids_token"], "note": "customer fixed it"})
    dl.refresh_from_db()
    assert dl.status == status and dl.note == "customer fixed it" and dl.resolved_by == admin_user
    # The note stays on the dead letter (where redaction reaches it), not in the log.
    assert LogEntry.objects.get(object_id=str(dl.pk)).change_message == f"{status.capitalize()} with a note."


def test_it_cleans_up_old_resolved_dead_letters_only(admin_client):
    old, recent, still_open = make_dead_letters(3)
    old.resolve(None, "done")
    recent.resolve(None, "done")
    DeadLetter.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=40))
    ids = [old.pk, recent.pk, still_open.pk]
    first, second = run_action(admin_client, "cleanup", ids, url=f"{CHANGELIST}?status=all", days="30")
    assert first.context["count"] == 1
    assert second.status_code == 302
    assert set(DeadLetter.objects.filter(pk__in=ids).values_list("pk", flat=True)) == {recent.pk, still_open.pk}
    assert LogEntry.objects.get(object_id=str(old.pk)).is_deletion()


def test_it_lets_a_superuser_delete_selected(admin_client):
    (dl,) = make_dead_letters()
    admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [dl.pk], "post": "yes"})
    assert not DeadLetter.objects.filter(pk=dl.pk).exists()


def test_it_replays_a_whole_error_group_as_one_action(admin_client, flaky_handler):
    group = make_dead_letters(3)
    flaky_handler.message = "a different problem"
    other = make_dead_letters(1)[0]
    page = admin_client.get(reverse("admin:deadletters_deadletter_groups"))
    assert page.status_code == 200 and b"Replay group" in page.content
    group_list = admin_client.get(page.context["groups"][0]["url"])
    assert {d.pk for d in group_list.context["cl"].result_list} == {d.pk for d in group}
    url = reverse("admin:deadletters_deadletter_replay_group")
    first = admin_client.post(url, {"fingerprint": group[0].fingerprint})
    assert first.context["count"] == 3
    flaky_handler.fail = False
    admin_client.post(url, {"fingerprint": group[0].fingerprint, "post": "yes", "ids_token": first.context["ids_token"]})
    assert set(DeadLetter.objects.filter(pk__in=[d.pk for d in group]).values_list("status", flat=True)) == {"resolved"}
    assert DeadLetter.objects.get(pk=other.pk).status == "open"


def test_it_refuses_a_forged_token(admin_client):
    (dl,) = make_dead_letters()
    admin_client.post(CHANGELIST, {"action": "resolve", "_selected_action": [dl.pk], "post": "yes",
                                   "ids_token": "forged", "note": "x"})
    assert DeadLetter.objects.get(pk=dl.pk).status == "open"


def test_it_shows_the_detail_with_traceback_payload_and_history(admin_client):
    (dl,) = make_dead_letters(payload={"id": 4242, "note": "<script>alert(1)</script>"})
    replay_one(dl, None)
    page = admin_client.get(reverse("admin:deadletters_deadletter_change", args=[dl.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Traceback (most recent call last)" in html
    assert "4242" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert 'id="replay-button"' in html
    assert "not replayed yet" not in html  # the replay above is listed


def test_it_returns_to_the_detail_page_after_replaying_from_it(admin_client, flaky_handler):
    (dl,) = make_dead_letters()
    detail = reverse("admin:deadletters_deadletter_change", args=[dl.pk])
    form = {"action": "replay", "_selected_action": [dl.pk], "next": detail}
    first = admin_client.post(CHANGELIST, form)
    flaky_handler.fail = False
    second = admin_client.post(CHANGELIST, {**form, "post": "yes", "ids_token": first.context["ids_token"]})
    assert second["Location"] == detail
    page = admin_client.get(detail).content.decode()
    assert "1 dead letter replayed: resolved." in page and "Resolved" in page
    offsite = admin_client.post(CHANGELIST, {**form, "next": "https://evil.example.com/", "post": "yes",
                                             "ids_token": first.context["ids_token"]})
    assert offsite["Location"] == CHANGELIST
