from django.apps import AppConfig


class TimedifyOpsConfig(AppConfig):
    name = "timedify_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from timedify_ops import checks  # noqa: F401  (registers system checks)
