from django.apps import AppConfig


class TimedifyOpsConfig(AppConfig):
    name = "timedify_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from timedify_ops import checks, jobs, privacy  # noqa: F401  (system checks, privacy receivers)
        from timedify_ops.adminsecurity import require_change_permission_for_task_resubmit
        from webhooks import jobrunner

        require_change_permission_for_task_resubmit()
        # Every app's commands run their jobs through this runner (webhooks.jobrunner).
        jobrunner.install(jobs.execute)
