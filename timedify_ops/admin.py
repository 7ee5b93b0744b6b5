"""Admin: our job runs (read-only), the alert state, and django-q2's Schedule admin with a
"Run now" button on each row and page, each schedule's last run from our job runs, and
its cadence in words."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django_q.admin import ScheduleAdmin
from django_q.models import Schedule

from timedify_ops import jobs
from timedify_ops.cadence import cadence
from timedify_ops.models import QUIET_SWEEPER_RUN, AlertState, JobRun, JobStatus
from webhooks.admin.indexed import IndexedValuesFilter
from webhooks.admin.kit import ReadOnlyAdmin, count_of, monospace, short_clock, status_badge


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
    """django-q2's schedule admin, plus "Run now", the last run of our job and the cadence."""

    form = ScheduleForm
    list_display = ("name", "cadence", "next_run", "last_run", "run_now_button", "run_history", "get_last_run",
                    "get_success")
    list_display_links = ("name",)
    readonly_fields = (*getattr(ScheduleAdmin, "readonly_fields", ()), "cadence", "last_run", "run_history")
    actions = ["run_now"]
    change_form_template = "admin/django_q/schedule/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        # The newest of our runs per schedule, from the (schedule) foreign key's index.
        newest = JobRun.objects.filter(schedule=OuterRef("pk")).order_by("-started_at")
        return super().get_queryset(request).annotate(  # type: ignore[no-any-return]
            last_run_id=Subquery(newest.values("pk")[:1]),
            last_run_status=Subquery(newest.values("status")[:1]),
            last_run_at=Subquery(newest.values("started_at")[:1]),
        )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.run_now_view)
        return [path("<path:object_id>/run-now/", view, name="django_q_schedule_run_now"), *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        schedule = self.get_object(request, object_id)
        extra = {"title": schedule.name, "subtitle": None, "can_run": self.has_change_permission(request)} if schedule else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description="How often")
    def cadence(self, obj: Schedule) -> str:
        return cadence(obj) if obj.pk else "-"

    @admin.display(description="Last run", ordering="last_run_at")
    def last_run(self, obj: Schedule) -> SafeString | str:
        run_id = getattr(obj, "last_run_id", None)
        if run_id is None:
            return "never"
        url = reverse("admin:timedify_ops_jobrun_change", args=[run_id])
        return format_html('<a href="{}">{}</a> {}', url, short_clock(obj.last_run_at), status_badge(obj.last_run_status, dict(JobStatus.choices).get(obj.last_run_status)))

    @admin.display(description="Run")
    def run_now_button(self, obj: Schedule) -> SafeString | str:
        if jobs.job_name(obj) is None:
            return "-"
        # The list's own form (and its CSRF token) posted to this schedule's run-now URL.
        url = reverse("admin:django_q_schedule_run_now", args=[obj.pk])
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post">Run now</button>', url)

    @admin.display(description="django-q2 task")
    def get_last_run(self, obj: Schedule) -> Any:
        return super().get_last_run(obj)

    @admin.display(description="Succeeded", boolean=True)
    def get_success(self, obj: Schedule) -> Any:
        return super().get_success(obj)

    @admin.display(description="Run history")
    def run_history(self, obj: Schedule) -> SafeString | str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:timedify_ops_jobrun_changelist") + f"?schedule__id__exact={obj.pk}"
        return format_html('<a href="{}">runs</a>', url)

    def _run(self, request: HttpRequest, schedule: Schedule) -> JobRun | None:
        """Quick jobs run in this request; slow ones (retention, pruning) are queued to
        the cluster and their run row says so. None for a schedule of no job of ours."""
        name = jobs.job_name(schedule)
        if name is None:
            return None
        if jobs.JOBS[name].quick:
            run = jobs.execute(name, trigger="admin", user=request.user, schedule=schedule)
            text = f"{run.status}: {run.summary}"
        else:
            run = jobs.enqueue(name, trigger="admin", user=request.user, schedule=schedule)
            text = "queued for the worker cluster"
        self.log_change(request, schedule, f"Run now: {text}")
        return run

    @staticmethod
    def _said(run: JobRun) -> str:
        return "queued for the worker cluster" if run.summary.startswith("queued") else f"{run.status}: {run.summary}"

    def run_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("admin:django_q_schedule_changelist")
        if request.method != "POST":
            self.message_user(request, "Nothing was run: press the Run now button.", messages.INFO)
            return HttpResponseRedirect(back)
        schedule = get_object_or_404(Schedule, pk=object_id)
        if not self.has_change_permission(request, schedule):
            self.message_user(request, "You may not run schedules.", messages.ERROR)
            return HttpResponseRedirect(back)
        run = self._run(request, schedule)
        if run is None:
            self.message_user(request, f"{schedule.name} runs no job of this console: run it from django-q2.",
                              messages.WARNING)
        else:
            level = messages.ERROR if run.status == JobStatus.FAILED else messages.SUCCESS
            self.message_user(request, format_html("{}: {} ({})", schedule.name, self._said(run), _run_link(run)), level)
        return HttpResponseRedirect(back)

    @admin.action(description="Run now (records a job run)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        done: list[tuple[str, str, SafeString]] = []
        failed = skipped = 0
        for schedule in queryset:
            run = self._run(request, schedule)
            if run is None:
                skipped += 1
                continue
            failed += run.status == JobStatus.FAILED
            done.append((schedule.name, self._said(run), _run_link(run)))
        lines = format_html_join("", "<li>{}: {} ({})</li>", done)
        head = f"{count_of(len(done), 'schedule')} run" + (f", {failed} failed." if failed else ".")
        tail = f" {count_of(skipped, 'other')} skipped: not a job of this console." if skipped else ""
        level = messages.ERROR if failed else messages.WARNING if skipped and not done else messages.SUCCESS
        self.message_user(request, format_html("{}{}<ul>{}</ul>", head, tail, lines), level)


class QuietRunsFilter(admin.SimpleListFilter):
    """The sweeper runs every minute and almost always finds nothing: those runs are
    hidden unless asked for, so the history shows what happened."""

    title = "sweeper runs that found nothing"
    parameter_name = "quiet"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("show", "Show them")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
        if self.value() == "show":
            return queryset
        # The condition itself, not "pk NOT IN (the quiet runs)": the partial index
        # ops_jobrun_shown holds exactly the rows it leaves.
        return queryset.filter(~QUIET_SWEEPER_RUN)

    def choices(self, changelist: Any) -> Any:
        yield {"selected": self.value() != "show", "query_string": changelist.get_query_string(remove=[self.parameter_name]),
               "display": "Hidden"}
        yield {"selected": self.value() == "show", "query_string": changelist.get_query_string({self.parameter_name: "show"}),
               "display": "Shown"}


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """Every run of every job; read-only (runs are pruned by prune_django_q)."""

    list_display = ("started_at", "task", "status_badge", "trigger", "duration", "summary", "schedule_link")
    list_filter = (QuietRunsFilter, ("task", IndexedValuesFilter), "status", ("trigger", IndexedValuesFilter), "started_at")
    search_fields = ("summary", "task")
    date_hierarchy = "started_at"
    list_select_related = ("schedule", "triggered_by")
    fields = (
        "task", "status", "trigger", "triggered_by", "schedule_link", "started_at", "finished_at",
        "duration_ms", "summary", "details_pretty", "traceback_pretty",
    )
    readonly_fields = fields
    field_labels = {"duration_ms": "Duration (ms)"}

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: JobRun) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

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
        return monospace(json.dumps(obj.details, indent=2, sort_keys=True, default=str))

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
