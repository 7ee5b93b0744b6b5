"""Admin: forward destinations (with their circuit breakers) and topic routes."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from webhooks.models import BreakerState, ForwardDestination, TopicRoute

BREAKER_COLOURS: dict[str, str] = {BreakerState.CLOSED: "#2e7d32", BreakerState.HALF_OPEN: "#ef6c00", BreakerState.OPEN: "#c62828"}


@admin.register(ForwardDestination)
class ForwardDestinationAdmin(admin.ModelAdmin):
    list_display = [
        "name", "url", "breaker", "paused", "consecutive_failures", "opened_at", "last_success_at", "last_failure_at",
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
    def breaker(self, obj: ForwardDestination) -> str:
        label = "paused" if obj.paused else obj.get_state_display()
        colour = "#616161" if obj.paused else BREAKER_COLOURS.get(obj.state, "#616161")
        return format_html('<strong style="color:{}">{}</strong>', colour, label)

    @admin.display(description="Last error")
    def last_error_short(self, obj: ForwardDestination) -> str:
        return obj.last_error[:120]

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[ForwardDestination], verb: str, log: str,
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
        level = messages.WARNING if failed else messages.SUCCESS
        self.message_user(request, f"{verb}: {done}, already so: {unchanged}, failed: {failed}.", level)

    @admin.action(description="Pause selected destinations (events wait)", permissions=["change"])
    def pause_destinations(self, request: HttpRequest, queryset: QuerySet[ForwardDestination]) -> None:
        self._apply(request, queryset, "Paused", "Paused the destination", lambda d: d.pause(request.user))

    @admin.action(description="Resume selected destinations", permissions=["change"])
    def resume_destinations(self, request: HttpRequest, queryset: QuerySet[ForwardDestination]) -> None:
        self._apply(request, queryset, "Resumed", "Resumed the destination", lambda d: d.resume(request.user))

    @admin.action(description="Close the circuit breaker of selected destinations", permissions=["change"])
    def close_breakers(self, request: HttpRequest, queryset: QuerySet[ForwardDestination]) -> None:
        def close(dest: ForwardDestination) -> bool:
            was = dest.state
            dest.reset()
            return was != BreakerState.CLOSED

        self._apply(request, queryset, "Closed", "Closed the circuit breaker by hand", close)


@admin.register(TopicRoute)
class TopicRouteAdmin(admin.ModelAdmin):
    list_display = ["topic", "destination", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "destination"]
    list_select_related = ["destination"]
    search_fields = ["topic", "destination__name"]
