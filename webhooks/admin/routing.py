"""Admin: forward destinations (with their circuit breakers) and topic routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString

from webhooks.admin.kit import count_of, status_badge
from webhooks.models import BreakerState, ForwardDestination, TopicRoute


@admin.register(ForwardDestination)
class ForwardDestinationAdmin(admin.ModelAdmin):
    list_display = [
        "name", "url_short", "breaker", "paused", "consecutive_failures", "opened_at", "last_success_at", "last_failure_at",
        "last_error_short",
    ]
    list_filter = ["state", "paused"]
    search_fields = ["name", "url"]
    readonly_fields = [
        "state", "paused", "paused_at", "paused_by", "consecutive_failures", "opened_at", "last_failure_at",
        "last_success_at", "last_error", "updated_at",
    ]
    actions = ["pause_destinations", "resume_destinations", "close_breakers"]

    @admin.display(description="Breaker", ordering="state")
    def breaker(self, obj: ForwardDestination) -> SafeString:
        if obj.paused:
            return status_badge("paused", "Paused")
        return status_badge(f"breaker-{obj.state}", obj.get_state_display())

    @admin.display(description="Last error")
    def last_error_short(self, obj: ForwardDestination) -> str:
        return obj.last_error[:120]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("labels", {"url": "URL"})
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="URL", ordering="url")
    def url_short(self, obj: ForwardDestination) -> str:
        return obj.url

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[ForwardDestination], past: str, log: str,
        change: Callable[[ForwardDestination], bool],
    ) -> None:
        done = unchanged = failed = 0
        for dest in queryset:
            try:
                if change(dest):
                    self.log_change(request, dest, log)
                    done += 1
                else:
                    unchanged += 1
            except Exception:  # noqa: BLE001 - count and go on; the message says how many
                failed += 1
        text = f"{count_of(done, 'destination')} {past}."
        if unchanged:
            text += f" {count_of(unchanged, 'other was', 'others were')} already {past}."
        if failed:
            text += f" {count_of(failed, 'other', 'others')} could not be changed: try again."
        self.message_user(request, text, messages.WARNING if failed else messages.SUCCESS)

    @admin.action(description="Pause selected destinations (events wait)…", permissions=["change"])
    def pause_destinations(self, request: HttpRequest, queryset: QuerySet[ForwardDestination]) -> HttpResponse | None:
        """Pausing holds every delivery to the destination: asked first, with a note."""
        note = request.POST.get("note", "").strip()
        if request.POST.get("post") != "yes" or not note:
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/webhooks/forwarddestination/confirm_pause.html", {
                **self.admin_site.each_context(request), "title": "Pause destinations", "opts": self.model._meta,
                "destinations": queryset, "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "note": note,
                "error": "A note is required." if request.POST.get("post") == "yes" else "",
                "next": request.POST.get("next", ""),
            })
        self._apply(request, queryset, "paused", f"Paused: {note}", lambda d: d.pause(request.user))
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return HttpResponseRedirect(back)  # the ops dashboard's Pause button
        return None

    @admin.action(description="Resume selected destinations", permissions=["change"])
    def resume_destinations(self, request: HttpRequest, queryset: QuerySet[ForwardDestination]) -> None:
        self._apply(request, queryset, "resumed", "Resumed the destination", lambda d: d.resume(request.user))

    @admin.action(description="Close the circuit breaker of selected destinations", permissions=["change"])
    def close_breakers(self, request: HttpRequest, queryset: QuerySet[ForwardDestination]) -> None:
        def close(dest: ForwardDestination) -> bool:
            was = dest.state
            dest.reset()
            return was != BreakerState.CLOSED

        self._apply(request, queryset, "closed", "Closed the circuit breaker by hand", close)


@admin.register(TopicRoute)
class TopicRouteAdmin(admin.ModelAdmin):
    list_display = ["topic", "destination", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "destination"]
    list_select_related = ["destination"]
    search_fields = ["topic", "destination__name"]
