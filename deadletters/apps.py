from django.apps import AppConfig


class DeadlettersConfig(AppConfig):
    name = "deadletters"
    verbose_name = "Dead letters"

    def ready(self) -> None:
        from deadletters import receivers  # noqa: F401  (connects to webhooks' signals)
