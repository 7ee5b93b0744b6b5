"""Admin: circuit breakers (forward destinations and topics) and topic routes."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from webhooks.breaker import BreakerState, CircuitBreaker
from webhooks.models import ForwardDestination, TopicBreaker, TopicRoute

BREAKER_COLOURS: dict[str, str] = {BreakerState.CLOSED: "#2e7d32", BreakerState.HALF_OPEN: "#ef6c00", BreakerState.OPEN: "#c62828"}


class BreakerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What the admin pages of every circuit breaker share: its state in colour, and the
    actions staff take on it (pause, resume, close by hand)."""

    breaker_fields = [
        "state", "paused", "paused_at", "paused_by", "consecutive_failures", "opened_at", "last_failure_at",
        "last_success_at", "last_error", "updated_at",
    ]
    list_filter = ["state", "paused"]
    actions = ["pause_breakers", "resume_breakers", "close_breakers"]

    @admin.display(description="Breaker", ordering="state")
    def breaker(self, obj: CircuitBreaker) -> str:
        label = "paused" if obj.paused else obj.get_state_display()  # type: ignore[attr-defined]
        colour = "#616161" if obj.paused else BREAKER_COLOURS.get(obj.state, "#616161")
        return format_html('<strong style="color:{}">{}</strong>', colour, label)

    @admin.display(description="Last error")
    def last_error_short(self, obj: CircuitBreaker) -> str:
        return obj.last_error[:120]

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[CircuitBreaker], verb: str, log: str,
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
        level = messages.WARNING if failed else messages.SUCCESS
        self.message_user(request, f"{verb}: {done}, already so: {unchanged}, failed: {failed}.", level)

    @admin.action(description="Pause selected (their events wait)", permissions=["change"])
    def pause_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> None:
        self._apply(request, queryset, "Paused", "Paused", lambda b: b.pause(request.user))

    @admin.action(description="Resume selected (their waiting events run now)", permissions=["change"])
    def resume_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> None:
        self._apply(request, queryset, "Resumed", "Resumed", lambda b: b.resume(request.user))

    @admin.action(description="Close the circuit breaker of selected", permissions=["change"])
    def close_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> None:
        def close(breaker: CircuitBreaker) -> bool:
            was = breaker.state
            breaker.reset()
            return was != BreakerState.CLOSED

        self._apply(request, queryset, "Closed", "Closed the circuit breaker by hand", close)


@admin.register(ForwardDestination)
class ForwardDestinationAdmin(BreakerAdmin):
    list_display = [
        "name", "url", "breaker", "paused", "consecutive_failures", "opened_at", "last_success_at", "last_failure_at",
        "last_error_short",
    ]
    search_fields = ["name", "url"]
    readonly_fields = BreakerAdmin.breaker_fields


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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TopicRoute)
class TopicRouteAdmin(admin.ModelAdmin):
    list_display = ["topic", "destination", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "destination"]
    list_select_related = ["destination"]
    search_fields = ["topic", "destination__name"]
