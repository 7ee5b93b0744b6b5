"""Admin: circuit breakers (forward destinations and topics) and topic routes."""

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

from webhooks.admin.kit import FastListAdmin, count_of, status_badge
from webhooks.breaker import BreakerState, CircuitBreaker
from webhooks.models import ForwardDestination, TopicBreaker, TopicRoute


class BreakerAdmin(FastListAdmin):
    """What the admin pages of every circuit breaker share: its state as a badge, and the
    actions staff take on it (pause with a note, resume, close by hand)."""

    breaker_fields = [
        "state", "paused", "paused_at", "paused_by", "consecutive_failures", "opened_at", "last_failure_at",
        "last_success_at", "last_error", "updated_at",
    ]
    list_filter = ["state", "paused"]
    actions = ["pause_breakers", "resume_breakers", "close_breakers"]
    noun = ("breaker", "breakers")

    @admin.display(description="Breaker", ordering="state")
    def breaker(self, obj: CircuitBreaker) -> SafeString:
        if obj.paused:
            return status_badge("paused", "Paused")
        return status_badge(f"breaker-{obj.state}", obj.get_state_display())  # type: ignore[attr-defined]

    @admin.display(description="Last error")
    def last_error_short(self, obj: CircuitBreaker) -> str:
        return obj.last_error[:120]

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[CircuitBreaker], past: str, log: str,
        change: Callable[[CircuitBreaker], bool],
    ) -> None:
        done = unchanged = failed = 0
        for breaker in queryset:
            try:
                if change(breaker):
                    self.log_change(request, breaker, log)
                    done += 1
                else:
                    unchanged += 1
            except Exception:  # noqa: BLE001 - count and go on; the message says how many
                failed += 1
        text = f"{count_of(done, *self.noun)} {past}."
        if unchanged:
            text += f" {count_of(unchanged, 'other was', 'others were')} already {past}."
        if failed:
            text += f" {count_of(failed, 'other', 'others')} could not be changed: try again."
        self.message_user(request, text, messages.WARNING if failed else messages.SUCCESS)

    @admin.action(description="Pause selected (their events wait)…", permissions=["change"])
    def pause_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> HttpResponse | None:
        """Pausing holds every delivery behind the breaker: asked first, with a note (kept
        in the admin log: it is the operator's reason, not customer data)."""
        note = request.POST.get("note", "").strip()
        if request.POST.get("post") != "yes" or not note:
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/webhooks/forwarddestination/confirm_pause.html", {
                **self.admin_site.each_context(request), "title": f"Pause {self.noun[1]}", "opts": self.model._meta,
                "breakers": queryset, "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "note": note,
                "error": "A note is required." if request.POST.get("post") == "yes" else "",
                "next": request.POST.get("next", ""),
            })
        self._apply(request, queryset, "paused", f"Paused: {note[:200]}", lambda b: b.pause(request.user))
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return HttpResponseRedirect(back)  # the ops dashboard's Pause button
        return None

    @admin.action(description="Resume selected (their waiting events run now)", permissions=["change"])
    def resume_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> None:
        self._apply(request, queryset, "resumed", "Resumed", lambda b: b.resume(request.user))

    @admin.action(description="Close the circuit breaker of selected", permissions=["change"])
    def close_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> None:
        def close(breaker: CircuitBreaker) -> bool:
            was = breaker.state
            breaker.reset()
            return was != BreakerState.CLOSED

        self._apply(request, queryset, "closed", "Closed the circuit breaker by hand", close)


@admin.register(ForwardDestination)
class ForwardDestinationAdmin(BreakerAdmin):
    list_display = [
        "name", "url_short", "breaker", "paused", "consecutive_failures", "opened_at", "last_success_at",
        "last_failure_at", "last_error_short",
    ]
    search_fields = ["name", "url"]
    readonly_fields = BreakerAdmin.breaker_fields
    noun = ("destination", "destinations")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("labels", {"url": "URL"})
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="URL", ordering="url")
    def url_short(self, obj: ForwardDestination) -> str:
        return obj.url


@admin.register(TopicBreaker)
class TopicBreakerAdmin(BreakerAdmin):
    """One row per topic whose handler has failed: open means its events wait (no attempt
    burnt) while the other topics flow. Created by processing, never by hand."""

    list_display = [
        "topic", "breaker", "paused", "consecutive_failures", "opened_at", "last_success_at", "last_failure_at",
        "last_error_short",
    ]
    search_fields = ["topic"]
    readonly_fields = ["topic", *BreakerAdmin.breaker_fields]
    noun = ("topic", "topics")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TopicRoute)
class TopicRouteAdmin(admin.ModelAdmin):
    list_display = ["topic", "destination", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "destination"]
    list_select_related = ["destination"]
    search_fields = ["topic", "destination__name"]
