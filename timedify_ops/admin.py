"""Admin: our job runs (read-only), the alert state, and django-q2's Schedule admin with a
"Run now" action and a link to each schedule's run history."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_q.admin import ScheduleAdmin
from django_q.models import Schedule

from timedify_ops import jobs
from timedify_ops.models import AlertState, JobRun, JobStatus
from webhooks.admin.events import monospace


def _run_link(run: JobRun) -> SafeString:
    url = reverse("admin:timedify_ops_jobrun_change", args=[run.pk])
    return format_html('<a href="{}">{} run {}</a>', url, run.task, run.pk)


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    """Numbers checked where they enter: a schedule every -5 minutes, or every million
    years, is a form error rather than a schedule that never (or always) runs."""

    minutes = forms.IntegerField(required=False, min_value=1, max_value=525_600,
                                 help_text="For the Minutes type: 1 to 525600 (a year).")
    repeats = forms.IntegerField(min_value=-1, max_value=1_000_000, initial=-1,
                                 help_text="Runs left: -1 forever, 0 never again, up to 1000000.")

    class Meta:
        model = Schedule
        fields = ("minutes", "repeats")  # the admin adds the rest of its fieldsets


admin.site.unregister(Schedule)


@admin.register(Schedule)
class TimedifyScheduleAdmin(ScheduleAdmin):
    """django-q2's schedule admin, unchanged, plus "Run now" and the run history."""

    form = ScheduleForm
    list_display = (*ScheduleAdmin.list_display, "run_history")
    readonly_fields = (*getattr(ScheduleAdmin, "readonly_fields", ()), "run_history")
    actions = ["run_now"]

    @admin.display(description="Run history")
    def run_history(self, obj: Schedule) -> SafeString | str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:timedify_ops_jobrun_changelist") + f"?schedule__id__exact={obj.pk}"
        return format_html('<a href="{}">runs</a>', url)

    @admin.action(description="Run now (records a job run)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        """Quick jobs run in this request and their result is shown; slow ones (retention,
        pruning) are queued to the cluster and the message links to their run."""
        done: list[tuple[SafeString, str]] = []
        failed = skipped = 0
        for schedule in queryset:
            name = jobs.job_name(schedule)
            if name is None:
                skipped += 1
                continue
            if jobs.JOBS[name].quick:
                run = jobs.execute(name, trigger="admin", user=request.user, schedule=schedule)
                text = f"{run.status}: {run.summary}"
            else:
                run = jobs.enqueue(name, trigger="admin", user=request.user, schedule=schedule)
                text = "queued for the worker cluster"
            if run.status == JobStatus.FAILED:
                failed += 1
            self.log_change(request, schedule, f"Run now: {text}")
            done.append((_run_link(run), text))
        lines = format_html_join("", "<li>{}: {}</li>", done)
        tail = f" {skipped} skipped (not a Timedify job)." if skipped else ""
        level = messages.ERROR if failed else messages.WARNING if skipped and not done else messages.SUCCESS
        self.message_user(
            request, format_html("Ran {} schedule(s), {} failed.{}<ul>{}</ul>", len(done), failed, tail, lines), level
        )


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Every run of every job; read-only (runs are pruned by prune_django_q)."""

    list_display = ("started_at", "task", "colored_status", "trigger", "duration", "summary", "schedule_link")
    list_filter = ("task", "status", "trigger", "started_at")
    search_fields = ("summary", "task")
    date_hierarchy = "started_at"
    list_select_related = ("schedule", "triggered_by")
    show_full_result_count = False
    fields = (
        "task", "status", "trigger", "triggered_by", "schedule_link", "started_at", "finished_at",
        "duration_ms", "summary", "details_pretty", "traceback_pretty",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    _COLORS = {"ok": "#2e7d32", "warning": "#b26a00", "failed": "#c62828", "running": "#555"}

    @admin.display(description="Status", ordering="status")
    def colored_status(self, obj: JobRun) -> SafeString:
        return format_html('<b style="color:{}">{}</b>', self._COLORS.get(obj.status, "#000"), obj.status)

    @admin.display(description="Duration", ordering="duration_ms")
    def duration(self, obj: JobRun) -> str:
        if obj.duration_ms is None:
            return "-"
        return f"{obj.duration_ms / 1000:.2f} s" if obj.duration_ms >= 1000 else f"{obj.duration_ms:.0f} ms"

    @admin.display(description="Schedule")
    def schedule_link(self, obj: JobRun) -> SafeString | str:
        if obj.schedule_id is None:
            return "-"
        url = reverse("admin:django_q_schedule_change", args=[obj.schedule_id])
        return format_html('<a href="{}">{}</a>', url, obj.schedule.name if obj.schedule else obj.schedule_id)

    @admin.display(description="Details")
    def details_pretty(self, obj: JobRun) -> SafeString:
        text = json.dumps(obj.details, indent=2, sort_keys=True, default=str)
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', text)

    @admin.display(description="Traceback")
    def traceback_pretty(self, obj: JobRun) -> SafeString | str:
        return monospace(obj.traceback) if obj.traceback else "-"


@admin.register(AlertState)
class AlertStateAdmin(admin.ModelAdmin):
    list_display = ("level", "changed_at", "evaluated_at", "reasons")
    readonly_fields = ("level", "reasons", "changed_at", "evaluated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
