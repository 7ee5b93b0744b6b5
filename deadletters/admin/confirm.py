"""Confirmation pages for dead-letter actions, and the frozen id sets they carry.

A confirmation shows how many rows the action will touch and a sample of them. The ids
are frozen when the page is rendered and travel in a signed token, so the confirmed POST
acts on exactly what the operator saw, not on whatever matches the filter a minute later.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin import helpers
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from deadletters.admin import replay_options
from deadletters.models import DeadLetter
from webhooks.arguments import MAX_DAYS

SAMPLE_SIZE = 10
# A confirmation page left open longer than this must be reloaded.
TOKEN_MAX_AGE = 6 * 3600


def freeze(ids: list[int], purpose: str) -> str:
    return signing.dumps(ids, salt=f"deadletters.{purpose}", compress=True)


def thaw(token: str, purpose: str) -> list[int] | None:
    """The frozen ids, or None for a missing, forged, expired or other-purpose token."""
    try:
        ids = signing.loads(token, salt=f"deadletters.{purpose}", max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    return [int(i) for i in ids] if isinstance(ids, list) else None


# Confirmations that run handlers: each token starts its work once. (Resolve, ignore and
# clean-up act only on what is still in the state they change, so a second post is a no-op.)
ONE_TIME = frozenset({"replay", "replay_group", "replay_matching_page"})


def confirmed_ids(request: HttpRequest, purpose: str) -> list[int] | None:
    """On the confirming POST (post=yes), the frozen ids; else None. A token is good for
    one confirmation: a double click or a resubmitted form finds it used (the cache is
    shared by every web worker: the database's or Redis), so one confirmation never starts
    the same work twice."""
    if request.method != "POST" or request.POST.get("post") != "yes":
        return None
    # Asked more than once while one request is handled: the token is used once, the
    # answer remembered for the rest of the request.
    answers: dict[str, list[int] | None] = request.__dict__.setdefault("_deadletters_confirmed", {})
    if purpose not in answers:
        token = request.POST.get("ids_token", "")
        ids = thaw(token, purpose)
        key = f"deadletters.confirmed:{hashlib.sha256(token.encode()).hexdigest()}"
        if ids is not None and purpose in ONE_TIME and not cache.add(key, True, TOKEN_MAX_AGE):
            messages.warning(request, "That confirmation was already used: nothing was done again.")
            ids = None
        answers[purpose] = ids
    return answers[purpose]


def list_url(request: HttpRequest) -> str:
    """The dead-letter list with the filter the operator came from (a confirmation page's
    query string is the list's: the list's form posts to its own URL)."""
    query = request.GET.urlencode()
    return reverse("admin:deadletters_deadletter_changelist") + (f"?{query}" if query else "")


def back_url(request: HttpRequest) -> str:
    """Where the operator came from: the page that sent `next` (a dead letter's page, the
    error groups), else the list with its filter."""
    target = request.POST.get("next", "") or request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return list_url(request)


def expired(request: HttpRequest) -> HttpResponseRedirect:
    """A confirmation URL opened with GET (a reload, a new tab, a pasted link): nothing to
    confirm any more. Back to the list, saying why, instead of a bare error page."""
    messages.info(request, "That confirmation page can only be used once, from its button. Nothing was changed: "
                           "choose the dead letters again and press the button.")
    return HttpResponseRedirect(back_url(request))


class CleanupDays(forms.Form):
    """The clean-up's day count, checked as the command checks --older-than-days."""

    days = forms.IntegerField(min_value=0, max_value=MAX_DAYS)


def cleanup_days(request: HttpRequest) -> tuple[int | str, str]:
    """(days, "") for a valid day count (DEADLETTER_RETENTION_DAYS when none was sent), or
    (what was typed, the form error) so the page shows it and nothing is deleted."""
    if "days" not in request.POST:
        return settings.DEADLETTER_RETENTION_DAYS, ""
    form = CleanupDays(request.POST)
    if form.is_valid():
        return form.cleaned_data["days"], ""
    return request.POST["days"], "Days: " + " ".join(str(message) for message in form.errors["days"])


def render(
    modeladmin: Any,
    request: HttpRequest,
    ids: list[int],
    *,
    purpose: str,
    title: str,
    question: str,
    button: str,
    action: str = "",
    note_required: bool = False,
    days: int | str | None = None,
    error: str = "",
    form_url: str = "",
    replay: bool = False,
    destructive: bool = False,
) -> TemplateResponse:
    sample = list(DeadLetter.objects.filter(pk__in=ids[:SAMPLE_SIZE]).order_by("-created_at"))
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "question": question,
        "button": button,
        "count": len(ids),
        "sample": sample,
        "more": max(0, len(ids) - len(sample)),
        "ids_token": freeze(ids, purpose),
        # Echo the changelist action fields so the confirming POST reaches the same action.
        "action": action,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "note_required": note_required,
        "note": request.POST.get("note", ""),
        "days": days,
        "error": error,
        "form_url": form_url,
        "next": request.POST.get("next", ""),
        "back_url": back_url(request),
        "destructive": destructive,
        "media": modeladmin.media,
        # A replay's own fields: rate and canary for a batch, a destination.
        "replay": replay,
        **(replay_options.context(request, ids) if replay else {}),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/deadletters/confirm_action.html", context)
