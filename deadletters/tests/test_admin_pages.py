"""Pages that read well: one breadcrumb per level, labels as words, help for support staff."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from deadletters.tests.factories import bulk_dead_letters
from timedify_ops.models import JobRun
from webhooks.models import ForwardDestination

pytestmark = pytest.mark.django_db


def crumbs(html: str) -> list[str]:
    trail = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S)
    assert trail is not None
    return [re.sub(r"<[^>]+>", "", part).strip() for part in trail.group(1).split("&rsaquo;")]


def test_it_names_each_level_once_in_the_breadcrumbs(admin_client):
    (dead_letter,) = bulk_dead_letters(1)
    listing = admin_client.get(reverse("admin:deadletters_deadletter_changelist")).content.decode()
    assert crumbs(listing) == ["Home", "Dead letters"]  # the app and its list read the same: once
    detail = admin_client.get(reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk])).content.decode()
    assert crumbs(detail) == ["Home", "Dead letters", str(dead_letter)]
    groups = admin_client.get(reverse("admin:deadletters_deadletter_groups")).content.decode()
    assert crumbs(groups) == ["Home", "Dead letters", "Error groups"]
    events = admin_client.get(reverse("admin:webhooks_webhookevent_changelist")).content.decode()
    assert crumbs(events) == ["Home", "Webhooks", "Webhook events"]


def test_it_labels_fields_as_words(admin_client):
    (dead_letter,) = bulk_dead_letters(1)
    ForwardDestination.objects.create(name="app", url="https://app.example/hooks")
    run = JobRun.objects.create(task="sweeper", status="ok", duration_ms=3.0, details={"requeued": 1})
    pages = {
        reverse("admin:webhooks_forwarddestination_changelist"): ">URL<",
        reverse("admin:webhooks_webhookevent_change", args=[dead_letter.event_id]): "API version",
        reverse("admin:timedify_ops_jobrun_change", args=[run.pk]): "Duration (ms)",
    }
    for url, label in pages.items():
        assert label in admin_client.get(url).content.decode(), url


def test_a_dead_letter_page_hides_empty_fields_and_names_who_closed_it_without_a_link(admin_client, admin_user):
    (dead_letter,) = bulk_dead_letters(1)
    url = reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk])
    page = admin_client.get(url).content.decode()
    assert "field-resolved_by_name" not in page and "field-note" not in page
    dead_letter.resolve(admin_user, "fixed by hand")
    page = admin_client.get(url).content.decode()
    closed_by = re.search(r'field-resolved_by_name">.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert closed_by is not None and closed_by.group(1).strip() == admin_user.get_username()
