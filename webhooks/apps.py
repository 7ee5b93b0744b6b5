from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Importing the package registers the built-in handlers.
        from webhooks import checks, handlers  # noqa: F401
        # Payload revisions answer privacy requests like payloads.
        from webhooks import revision_privacy  # noqa: F401
