"""The Viewer and Support groups.

Permissions are created by a post_migrate signal, which has not run yet on a fresh
database when this migration runs: create them here first, for every app the groups use.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("webhooks", "deadletters", "timedify_ops")
# Read-only views of everything support staff look at, payloads included.
VIEWER = [
    ("webhooks", "view_webhookevent"),
    ("webhooks", "view_eventattempt"),
    ("webhooks", "view_shop"),
    ("webhooks", "view_rejecteddelivery"),
    ("webhooks", "view_forwarddestination"),
    ("webhooks", "view_topicroute"),
    ("deadletters", "view_deadletter"),
    ("deadletters", "view_replayrecord"),
    ("deadletters", "view_replaybatch"),
    ("timedify_ops", "view_jobrun"),
]
# Viewer, plus replaying (and dry runs), resolving and ignoring dead letters. Clean up and
# delete stay with superusers.
SUPPORT = [*VIEWER, ("deadletters", "replay_deadletter"), ("deadletters", "resolve_deadletter")]


def create_groups(apps, schema_editor):
    for label in APPS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in (("Viewer", VIEWER), ("Support", SUPPORT)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            group.permissions.add(permission)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Viewer", "Support"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deadletters", "0002_replay_batches"),
        ("webhooks", "0002_forwarding"),
        ("timedify_ops", "0001_jobrun"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
