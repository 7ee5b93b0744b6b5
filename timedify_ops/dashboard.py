"""The ops dashboard inside the admin (/admin/ops/dashboard/) and its pause/resume buttons.

One page, staff only, server-rendered (charts are inline SVG), reloading itself. Every
figure comes from `stats` and `series`; this module only arranges them.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from timedify_ops import charts, figures, series, stats
from webhooks.models import ComplianceRequest, ForwardDestination

DEADLETTER_LIST = "/admin/deadletters/deadletter/"


def _deadletter_link(**filters: str) -> str:
    return f"{DEADLETTER_LIST}?{urlencode({'status__in': 'open,replaying', **filters})}"


def dashboard_context() -> dict[str, Any]:
    """Every figure of the page, each computed now from its one definition (`figures`, via
    `stats` and `series`); the status reasons come from the checks and carry their time.
    The 7-day chart and the 7-day SLO column are the same hourly series, so their counts
    agree; the 30-day column is cached (stats.slo) and shows when it was computed."""
    now = timezone.now()
    week = series.series(timedelta(days=7), 3600, now=now)
    day = week.last(timedelta(hours=24))  # the same hourly buckets, read once
    dead = stats.dead_letters()
    for row in dead["by_topic"]:
        row["link"] = _deadletter_link(topic=row["topic"])
    for group in dead["groups"]:
        group["link"] = _deadletter_link(fingerprint=group["fingerprint"])
    t = figures.targets()
    return {
        "status": stats.overall_status(),
        "charts_24h": charts.traffic_charts(day, "%H:%M"),
        "charts_7d": charts.traffic_charts(week, "%a %Hh"),
        "computed_at": now,
        "totals_24h": day.compliance(),
        "totals_7d": (totals_7d := week.compliance()),
        "slo_7d": totals_7d,
        "slo_30d": stats.slo(30),
        "targets": {"p95": t.p95_ms, "p99": t.p99_ms, "error_pct": t.error_rate * 100},
        "recent": stats.error_rate(timedelta(minutes=settings.ALERT_WINDOW_MINUTES)),
        "alert_window_minutes": settings.ALERT_WINDOW_MINUTES,
        "dead_letters_max": settings.ALERT_DEADLETTERS_MAX,
        "dead_letter_list": _deadletter_link(),
        "stuck_grace_seconds": settings.HEALTH_STUCK_GRACE_SECONDS,
        "dead": dead,
        "queue": stats.queue(),
        "clusters": stats.clusters(),
        "breakers": stats.breakers(),
        "schedules": stats.schedules(),
        "db": stats.database(),
        "compliance_open": ComplianceRequest.objects.open().count(),
        "compliance_attention": ComplianceRequest.objects.needing_attention().count(),
        "refresh_seconds": settings.OPS_DASHBOARD_REFRESH_SECONDS,
    }


@staff_member_required
@never_cache
def dashboard(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    context = {
        **admin.site.each_context(request),
        "title": "Ops dashboard",
        "can_pause": request.user.has_perm("webhooks.change_forwarddestination"),
        **dashboard_context(),
    }
    context["query_ms"] = round((time.perf_counter() - started) * 1000)
    return render(request, "admin/ops_dashboard.html", context)


@staff_member_required
@require_POST
def resume_breaker(request: HttpRequest, pk: int) -> HttpResponse:
    """The dashboard's Resume button. Pausing is the destination admin's action: it asks
    for a note, which resuming does not need."""
    if not request.user.has_perm("webhooks.change_forwarddestination"):
        raise PermissionDenied
    destination = get_object_or_404(ForwardDestination, pk=pk)
    # Through the model, as the admin's action does; False when it already ran (two clicks).
    if destination.resume(request.user):
        # One admin log row per change, like an admin action.
        LogEntry.objects.log_actions(
            user_id=int(request.user.pk or 0),
            queryset=[destination],
            action_flag=CHANGE,
            change_message="Resumed from the ops dashboard.",
            single_object=True,
        )
        messages.success(request, f"{destination.name} resumed.")
    else:
        messages.info(request, f"{destination.name} was already running.")
    return HttpResponseRedirect(reverse("ops-dashboard") + "#breakers")
