from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeadlettersConfig(AppConfig):
    name = "deadletters"
    verbose_name = "Dead letters"

    def ready(self) -> None:
        # Connect to webhooks' signals: open dead letters, answer privacy requests.
        from deadletters import privacy, receivers  # noqa: F401
        from deadletters.staff_groups import sync_staff_groups

        # Runs after each app's post_migrate; the last run sees every app's permissions.
        post_migrate.connect(sync_staff_groups, dispatch_uid="deadletters.sync_staff_groups")
