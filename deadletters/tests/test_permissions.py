"""Who may do what: anonymous, Viewer, Support and superuser against every page and action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter, ReplayRecord
from deadletters.tests.factories import make_dead_letters, staff_user

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:deadletters_deadletter_changelist")
ACTIONS = ["replay", "dry_run", "resolve", "ignore", "cleanup", "delete_selected"]
ALLOWED = {
    "anonymous": set(),
    "viewer": set(),
    "support": {"replay", "dry_run", "resolve", "ignore"},
    "superuser": set(ACTIONS),
}


def client_for(role: str) -> Client:
    client = Client()
    if role == "superuser":
        client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    elif role != "anonymous":
        client.force_login(staff_user(role, role.capitalize()))
    return client


def state(dead_letter: DeadLetter) -> tuple:
    row = DeadLetter.objects.filter(pk=dead_letter.pk).values_list("status", "replay_count", "note").first()
    return row, ReplayRecord.objects.filter(dead_letter_id=dead_letter.pk).count()


def pages(dead_letter: DeadLetter, batch: ReplayBatch) -> list[str]:
    return [
        CHANGELIST,
        reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk]),
        reverse("admin:deadletters_deadletter_groups"),
        reverse("admin:deadletters_replaybatch_changelist"),
        reverse("admin:deadletters_replaybatch_change", args=[batch.pk]),
        reverse("admin:webhooks_webhookevent_changelist"),
        reverse("admin:webhooks_webhookevent_change", args=[dead_letter.event_id]),
        reverse("admin:webhooks_eventattempt_changelist"),
    ]


@pytest.mark.parametrize("role", ["anonymous", "viewer", "support", "superuser"])
def test_it_shows_every_page_to_staff_and_none_to_anonymous(role):
    (dl,) = make_dead_letters()
    batch = ReplayBatch.objects.create(description="x", dead_letter_ids=[dl.pk], total=1)
    client = client_for(role)
    for url in pages(dl, batch):
        response = client.get(url)
        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], url
        else:
            assert response.status_code == 200, url


@pytest.mark.parametrize("role", ["anonymous", "viewer", "support", "superuser"])
@pytest.mark.parametrize("action", ACTIONS)
def test_it_allows_each_action_only_to_the_roles_that_hold_its_permission(role, action):
    dl, resolved = make_dead_letters(2)
    resolved.resolve(None, "done")
    DeadLetter.objects.filter(pk=resolved.pk).update(updated_at=timezone.now() - timedelta(days=90))
    target = resolved if action == "cleanup" else dl
    # A valid confirmation token, as a superuser's page would carry it: a crafted POST.
    admin = client_for("superuser") if role != "superuser" else None
    token_source = admin or Client()
    if admin is not None:
        page = token_source.post(CHANGELIST, {"action": action, "_selected_action": [target.pk], "days": "30"})
        token = page.context.get("ids_token") if page.context else None
    client = client_for(role)
    before = state(target)
    first = client.post(CHANGELIST, {"action": action, "_selected_action": [target.pk], "days": "30"})
    confirmation = any("confirm" in (t.name or "") for t in first.templates)
    if action in ALLOWED[role]:
        assert first.status_code == 200 and confirmation, first.content[:300]
        return
    if role == "anonymous":
        assert first.status_code == 302 and "/login/" in first["Location"]
    # Refused: the changelist again (with "No action selected", or with no actions at all).
    assert not confirmation
    crafted = {"action": action, "_selected_action": [target.pk], "post": "yes", "ids_token": token or "",
               "note": "crafted", "days": "30"}
    client.post(CHANGELIST, crafted)
    assert state(target) == before


@pytest.mark.parametrize("role,allowed", [("anonymous", False), ("viewer", False), ("support", True), ("superuser", True)])
def test_it_guards_the_group_and_matching_replay_pages(role, allowed):
    (dl,) = make_dead_letters()
    client = client_for(role)
    for url, data in (
        (reverse("admin:deadletters_deadletter_replay_group"), {"fingerprint": dl.fingerprint}),
        (reverse("admin:deadletters_deadletter_replay_matching"), {}),
    ):
        response = client.post(url, data)
        expected = 200 if allowed else 302 if role == "anonymous" else 403
        assert response.status_code == expected, url
    assert state(dl) == (("open", 0, ""), 0)


@pytest.mark.parametrize("role,sees", [("viewer", False), ("support", True), ("superuser", True)])
def test_it_shows_replay_buttons_only_to_those_who_may_replay(role, sees):
    (dl,) = make_dead_letters(payload={"id": 31337})
    client = client_for(role)
    listing = client.get(CHANGELIST).content.decode()
    detail = client.get(reverse("admin:deadletters_deadletter_change", args=[dl.pk])).content.decode()
    groups = client.get(reverse("admin:deadletters_deadletter_groups")).content.decode()
    assert ('value="replay"' in listing) is sees
    assert ('id="replay-matching"' in listing) is sees
    assert ('id="replay-button"' in detail) is sees
    assert ("Replay group" in groups) is sees
    assert "31337" in detail  # payloads are visible to every staff role
