from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from timedify_ops.health import basic_health


@require_GET
@never_cache
@transaction.non_atomic_requests
def health(request: HttpRequest) -> JsonResponse:
    """Public and cheap: 200 when the database answers and migrations are applied, else 503."""
    report = basic_health()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
