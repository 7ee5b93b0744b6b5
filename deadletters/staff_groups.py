"""Keep the Viewer and Support groups complete as models are added.

Migration 0003 creates the groups; this runs after every `migrate` and grants the view
permission of every model in the console's apps, so a model added later (an export, a
rollup, a job record) is visible to staff without another data migration.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

STAFF_APPS = ("webhooks", "deadletters", "timedify_ops", "django_q")
SUPPORT_EXTRA = ("replay_deadletter", "resolve_deadletter")


def sync_staff_groups(**kwargs: Any) -> None:
    views = list(Permission.objects.filter(content_type__app_label__in=STAFF_APPS, codename__startswith="view_"))
    extra = list(Permission.objects.filter(content_type__app_label="deadletters", codename__in=SUPPORT_EXTRA))
    viewer, _ = Group.objects.get_or_create(name="Viewer")
    viewer.permissions.add(*views)
    support, _ = Group.objects.get_or_create(name="Support")
    support.permissions.add(*views, *extra)
