from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Importing the package registers the built-in handlers; processing wakes the events
        # a breaker releases (signal breaker_released); revision_privacy connects payload
        # revisions to privacy requests like payloads.
        from webhooks import checks, handlers, processing, revision_privacy  # noqa: F401
