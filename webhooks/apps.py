from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Importing the package registers the built-in handlers; revision_privacy connects
        # payload revisions to privacy requests like payloads.
        from webhooks import checks, handlers, revision_privacy  # noqa: F401
