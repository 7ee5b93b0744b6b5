from django.apps import AppConfig


class DeadlettersConfig(AppConfig):
    name = "deadletters"
    verbose_name = "Dead letters"

    def ready(self) -> None:
        # Connect to webhooks' signals: open dead letters, answer privacy requests.
        from deadletters import privacy, receivers  # noqa: F401
