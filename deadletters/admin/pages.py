"""Dead-letter admin pages beyond the changelist: error groups, replaying a group or
everything matching a filter (from a button, no selection needed), dry-run results."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from deadletters.admin import confirm
from deadletters.batches import BatchOrigin
from deadletters.models import DeadLetter


def _context(modeladmin: Any, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    request.current_app = modeladmin.admin_site.name
    return {**modeladmin.admin_site.each_context(request), "title": title, "subtitle": None,
            "opts": modeladmin.model._meta, **extra}


def error_groups(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    changelist = reverse("admin:deadletters_deadletter_changelist")
    groups = []
    for group in DeadLetter.objects.error_groups()[:200]:
        query = urlencode({"fingerprint": group["fingerprint"], "status": "open"})
        groups.append({**group, "url": f"{changelist}?{query}", "message": (group["message"] or "").splitlines()[:1]})
    return TemplateResponse(request, "admin/deadletters/error_groups.html", _context(
        modeladmin, request, "Error groups", groups=groups, can_replay=modeladmin.has_replay_permission(request),
    ))


def _replay_confirmed(modeladmin: Any, request: HttpRequest, purpose: str, ids: list[int], **render: Any) -> HttpResponse:
    if request.method != "POST":
        return confirm.expired(request)
    if not modeladmin.has_replay_permission(request):
        raise PermissionDenied
    frozen = confirm.confirmed_ids(request, purpose)
    description, origin, origin_url = render.pop("description"), render.pop("origin"), render.pop("origin_url")
    if frozen is not None:
        response = modeladmin.run_replays(request, frozen, description, origin=origin, origin_url=origin_url)
        return response or HttpResponseRedirect(confirm.back_url(request))
    if not ids:
        modeladmin.message_user(request, "Nothing to replay: no open dead letter matches.", messages.WARNING)
        return HttpResponseRedirect(confirm.back_url(request))
    return confirm.render(modeladmin, request, ids, purpose=purpose, button="Yes, replay them", replay=True, **render)


def replay_group(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """Replay every open dead letter of one error group: one click, one confirmation."""
    fingerprint = request.POST.get("fingerprint", "")
    ids = list(DeadLetter.objects.replayable().filter(fingerprint=fingerprint).values_list("pk", flat=True))
    return _replay_confirmed(
        modeladmin, request, "replay_group", ids, title="Replay an error group",
        question="Replay every open dead letter of this error group?",
        description=f"Replay of error group {fingerprint[:12]}", form_url=request.get_full_path(),
        origin=BatchOrigin.GROUP, origin_url=_changelist({"fingerprint": fingerprint, "status": "open"}),
    )


def replay_matching(modeladmin: Any, request: HttpRequest) -> HttpResponse:
    """The one "replay everything matching the filter" entry point: the changelist's button,
    with the filter in the query string."""
    ids: list[int] = []
    if confirm.confirmed_ids(request, "replay_matching_page") is None and request.method == "POST":
        matching = modeladmin.get_changelist_instance(request).get_queryset(request)
        ids = list(matching.replayable().values_list("pk", flat=True))
    return _replay_confirmed(
        modeladmin, request, "replay_matching_page", ids, title="Replay everything matching the filter",
        question="Replay every open dead letter matching the current filter? Dead letters that arrive after this "
                 "page was shown are not included.",
        description="Replay of dead letters matching a filter", form_url=request.get_full_path(),
        origin=BatchOrigin.FILTER, origin_url=_changelist(request.GET),
    )


def _changelist(query: Any) -> str:
    """The dead-letter list with this filter: where a batch came from."""
    text = urlencode(query) if isinstance(query, dict) else query.urlencode()
    url = reverse("admin:deadletters_deadletter_changelist")
    return f"{url}?{text}" if text else url


def dry_run_results(modeladmin: Any, request: HttpRequest, results: list[tuple[DeadLetter, str, str]]) -> HttpResponse:
    return TemplateResponse(request, "admin/deadletters/dry_run_results.html", _context(
        modeladmin, request, "Dry-run results", results=results, back_url=confirm.back_url(request),
    ))
