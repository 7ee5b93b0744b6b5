"""Edit and replay: mend one dead letter's payload as JSON, see it against the received one,
give a reason, replay. Behind its own permission (webhooks.edit_and_replay), which no group
has by default. The received payload stays; the edit is kept as a revision."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from deadletters.edit import replay_edited
from deadletters.models import DeadLetter
from webhooks import intake
from webhooks.revisions import PayloadRevision, diff

PERMISSION = "webhooks.edit_and_replay"
MAX_PAYLOAD_CHARS = 1_000_000


def may_edit(request: HttpRequest) -> bool:
    """The edit permission, and the replay permission it builds on."""
    user = request.user
    return bool(user.has_perm(PERMISSION) and user.has_perm("deadletters.replay_deadletter"))


def parse(text: str) -> tuple[Any, str]:
    """(payload, "") or (None, what is wrong), in words an operator can act on."""
    if len(text) > MAX_PAYLOAD_CHARS:
        return None, f"The payload is longer than {MAX_PAYLOAD_CHARS:,} characters."
    try:
        # The intake's own rules: an object, no NaN or Infinity, the nesting limit, NUL and
        # lone surrogates replaced. What a delivery could not carry, an edit cannot either.
        payload = intake.parse_json_object(text.encode("utf-8", "replace"))
    except intake.Refusal as exc:
        if exc.message == intake.NOT_AN_OBJECT:
            return None, "The payload must be a JSON object ({...}), as Shopify sends it."
        return None, f"This is not valid JSON: {exc.message}."
    return payload, ""


def edit_and_replay(modeladmin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    if not may_edit(request):
        raise PermissionDenied
    if not (object_id.isascii() and object_id.isdecimal()):
        raise Http404("no such dead letter")
    dead_letter = get_object_or_404(DeadLetter.objects.select_related("event"), pk=object_id)
    page = reverse("admin:deadletters_deadletter_change", args=[dead_letter.pk])
    received = dead_letter.event.payload
    latest = PayloadRevision.objects.filter(event_id=dead_letter.event_id).order_by("-number").first()
    text = request.POST.get("payload", "") if request.method == "POST" else json.dumps(
        latest.payload if latest else received, indent=2, sort_keys=True, ensure_ascii=False)
    reason = request.POST.get("reason", "")
    payload, error = parse(text)
    changes = diff(received, payload) if payload is not None else []
    if request.method == "POST" and "replay" in request.POST and not error:
        if not changes:
            error = "The payload is the same as the received one: change it, or replay the dead letter as it is."
        elif not reason.strip():
            error = "A reason is required: say what was wrong with the payload."
        elif not dead_letter.is_open:
            error = f"This dead letter is {dead_letter.get_status_display().lower()}, not open: nothing to replay."
        else:
            record = replay_edited(dead_letter, payload, reason, request.user)
            level = messages.SUCCESS if record.outcome in ("ok", "ignored") else messages.WARNING
            number = PayloadRevision.objects.filter(event_id=dead_letter.event_id).count()
            modeladmin.message_user(request, f"Replayed on revision {number}: {record.get_outcome_display()}.", level)
            return HttpResponseRedirect(page)
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/deadletters/deadletter/edit_replay.html", {
        **modeladmin.admin_site.each_context(request), "title": f"Edit and replay dead letter {dead_letter.pk}",
        "subtitle": None, "opts": modeladmin.model._meta, "original": dead_letter, "text": text, "reason": reason,
        "error": error if request.method == "POST" else "", "changes": changes, "previewed": request.method == "POST",
        "revisions": PayloadRevision.objects.filter(event_id=dead_letter.event_id).select_related("created_by"),
        "page": page,
    })
