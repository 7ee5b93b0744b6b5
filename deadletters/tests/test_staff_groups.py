"""The Viewer and Support groups see every table of the console, including later ones."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from deadletters.staff_groups import STAFF_APPS


@pytest.mark.django_db
@pytest.mark.parametrize("group_name", ["Viewer", "Support"])
def test_it_grants_view_on_every_model_of_the_console(group_name):
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=group_name).permissions.all()}
    for label in STAFF_APPS:
        for model in apps.get_app_config(label).get_models():
            assert f"{label}.view_{model._meta.model_name}" in granted


@pytest.mark.django_db
def test_only_support_may_replay_and_resolve_and_neither_may_clean_up():
    viewer = {p.codename for p in Group.objects.get(name="Viewer").permissions.all()}
    support = {p.codename for p in Group.objects.get(name="Support").permissions.all()}
    assert {"replay_deadletter", "resolve_deadletter"} <= support
    assert not {"replay_deadletter", "resolve_deadletter"} & viewer
    assert "cleanup_deadletter" not in support | viewer
    assert not {c for c in support | viewer if c.startswith(("add_", "change_", "delete_"))}
