"""Admin: replay batches. Progress, the honest result, the per-item report, and the controls
(pause, resume, cancel) on the list and on each batch's page, for whoever may replay."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString

from deadletters.batches import FAILED_OUTCOMES, BatchItem, ReplayBatch
from webhooks.admin.kit import ReadOnlyAdmin, status_badge

# The batch's own words (ReplayBatch.outcome) on the console's badge colours.
BADGE = {"ok": "ok", "partial": "failed", "failed": "dead", "cancelled": "skipped", "paused": "deferred",
         "replaying": "replaying", "received": "ignored"}
REPORT_ROWS = 500
CONTROLS = ("pause", "resume", "cancel")
OUTCOMES = ("ok", "ignored", "failed", "deferred", "skipped", "superseded")


def badge(batch: ReplayBatch) -> SafeString:
    kind, words = batch.outcome
    return status_badge(BADGE.get(kind, kind), words)


def controls_for(batch: ReplayBatch) -> list[str]:
    """The buttons that make sense now."""
    if batch.is_active:
        if batch.requested == "cancel":
            return []
        return ["resume", "cancel"] if batch.requested == "pause" else ["pause", "cancel"]
    return ["resume", "cancel"] if batch.status == "paused" else []


def report(batch: ReplayBatch, query: dict[str, str]) -> tuple[list[BatchItem], dict[str, int]]:
    """The report, failures first (then in confirmed order), filtered by outcome, topic
    or shop; and how many items each outcome has."""
    items: QuerySet[BatchItem] = batch.items.all()
    counts: dict[str, int] = {}
    for outcome in batch.items.values_list("outcome", flat=True).order_by().distinct():
        counts[outcome] = batch.items.filter(outcome=outcome).count()
    if query.get("outcome") in OUTCOMES:
        items = items.filter(outcome=query["outcome"])
    if query.get("topic"):
        items = items.filter(topic=query["topic"])
    if query.get("shop"):
        items = items.filter(shop_domain__startswith=query["shop"].lower())
    failures_first = Case(When(outcome__in=FAILED_OUTCOMES, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(items.order_by(failures_first, "position")[:REPORT_ROWS]), counts


@admin.register(ReplayBatch)
class ReplayBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "created_by", "origin_link", "progress", "ok", "failed", "skipped",
                    "result_badge", "control_buttons")
    list_filter = ("status", "origin")
    list_select_related = ("created_by",)
    # The confirmed ids (up to 10,000 a batch) and the history: read on the batch's page,
    # never on the list (200 batches of them were 30 ms of SQL and more of JSON decoding).
    list_defer = ("dead_letter_ids", "history")
    ordering = ("-created_at",)
    change_form_template = "admin/deadletters/replaybatch/change_form.html"

    def has_control_permission(self, request: HttpRequest) -> bool:
        """Whoever may replay may pause, resume and cancel a replay (Support does)."""
        return request.user.has_perm("deadletters.replay_deadletter")

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [path("<int:batch_id>/control/", view(self.control_view), name="deadletters_replaybatch_control"),
                *super().get_urls()]

    # --- controls -----------------------------------------------------------------------

    def control_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        if request.method != "POST" or not self.has_control_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(ReplayBatch, pk=batch_id)
        what = request.POST.get("control", "")
        if what not in CONTROLS:
            raise PermissionDenied
        if what == "pause":
            result = batch.pause(request.user)
            words = {"paused": "Paused.", "asked": "Pausing: the worker stops after the items in hand."}.get(result)
        elif what == "cancel":
            result = batch.cancel(request.user)
            words = {"cancelled": "Cancelled: the dead letters it had not reached stay open.",
                     "asked": "Cancelling: the worker stops after the items in hand."}.get(result)
        else:
            words = "Resumed." if batch.resume(request.user) else None
        if words is None:
            self.message_user(request, f"Nothing to {what}: the batch is {batch.get_status_display().lower()}.",
                              messages.WARNING)
        else:
            self.log_change(request, batch, f"{what.capitalize()}: {words}")
            self.message_user(request, f"Batch {batch.pk}: {words}", messages.SUCCESS)
        target = request.POST.get("next", "") or request.GET.get("next", "")
        if not (target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})):
            target = reverse("admin:deadletters_replaybatch_change", args=[batch.pk])
        return HttpResponseRedirect(target)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        batch = self.get_object(request, unquote(object_id))
        if batch is None:  # a stale link or a typed id: Django's own "doesn't exist" message
            return super().change_view(request, object_id, form_url, extra_context)
        items, counts = report(batch, {k: request.GET.get(k, "") for k in ("outcome", "topic", "shop")})
        extra = {
            "batch_badge": badge(batch), "controls": controls_for(batch) if self.has_control_permission(request) else [],
            "items": items, "outcome_counts": sorted(counts.items()), "report_limit": REPORT_ROWS,
            "filter": {k: request.GET.get(k, "") for k in ("outcome", "topic", "shop")},
            "eta": _duration(batch.eta_seconds()), "origin": self.origin_link(batch),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    # --- columns ------------------------------------------------------------------------

    @admin.display(description="done")
    def progress(self, obj: ReplayBatch) -> str:
        pace = f" at {obj.rate:g}/s" if obj.rate else ""
        return f"{obj.done} / {obj.total}{pace}"

    @admin.display(description="result", ordering="status")
    def result_badge(self, obj: ReplayBatch) -> SafeString:
        return badge(obj)

    @admin.display(description="from")
    def origin_link(self, obj: ReplayBatch) -> SafeString:
        if obj.origin_url:
            return format_html('<a href="{}">{}</a>', obj.origin_url, obj.get_origin_display())
        return format_html("{}", obj.get_origin_display())

    @admin.display(description="controls")
    def control_buttons(self, obj: ReplayBatch) -> SafeString:
        # Inside the changelist's own form (which carries the CSRF token): each button posts
        # it to the control view. The view refuses those who may not replay.
        url = reverse("admin:deadletters_replaybatch_control", args=[obj.pk])
        back = urlencode({"next": reverse("admin:deadletters_replaybatch_changelist")})
        return format_html_join(
            " ", '<button type="submit" class="button" formaction="{}?{}" name="control" value="{}" '
                 'id="batch-{}-{}">{}</button>',
            ((url, back, what, obj.pk, what, what.capitalize()) for what in controls_for(obj)),
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
