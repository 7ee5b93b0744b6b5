from django.apps import AppConfig


class TimedifyOpsConfig(AppConfig):
    name = "timedify_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from timedify_ops import checks, privacy  # noqa: F401  (system checks, privacy receivers)
        from timedify_ops.adminsecurity import require_change_permission_for_task_resubmit

        require_change_permission_for_task_resubmit()
