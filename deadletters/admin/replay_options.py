"""The replay confirmation's own fields: a rate and a canary for a background batch, and a
forward destination instead of the route's. Read and checked once here, where they enter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from deadletters import replay
from deadletters.batches import default_rate
from webhooks.models import ForwardDestination

MAX_RATE = 10_000.0
SUPERSEDED_SHOWN = 20


class BadOptions(ValueError):
    """A field of the confirmation could not be read; the message says which and why."""


@dataclass(frozen=True)
class ReplayOptions:
    rate: float | None = None  # None: as fast as possible
    canary: int = 0
    destination: ForwardDestination | None = None
    include_superseded: bool = False

    @classmethod
    def from_post(cls, request: HttpRequest) -> ReplayOptions:
        """The fields as posted; absent ones take their defaults (a confirmation without
        them, e.g. for a set small enough to replay in the request)."""
        post = request.POST
        rate: float | None = default_rate()
        if "rate" in post:
            text = post.get("rate", "").strip()
            if post.get("fastest") == "1" or text in ("", "0"):
                rate = None
            else:
                try:
                    rate = float(text)
                except ValueError:
                    raise BadOptions(f"The rate must be a number of items per second, not {text[:20]!r}.") from None
                if not 0 < rate <= MAX_RATE:
                    raise BadOptions(f"The rate must be above 0 and at most {MAX_RATE:g} per second.")
        try:
            canary = int(post.get("canary", "0").strip() or 0)
        except ValueError:
            raise BadOptions("The canary must be a whole number of dead letters (0 for none).") from None
        if canary < 0:
            raise BadOptions("The canary must be a whole number of dead letters (0 for none).")
        destination = None
        if post.get("destination", "").strip():
            destination = ForwardDestination.objects.filter(pk=_int(post.get("destination", ""))).first()
            if destination is None:
                raise BadOptions("That forward destination does not exist (any more).")
        return cls(rate=rate, canary=canary, destination=destination,
                   include_superseded=post.get("include_superseded") == "1")


def context(request: HttpRequest, ids: list[int]) -> dict[str, Any]:
    """What the confirmation shows of these fields (with what was posted, after an error),
    and which of the dead letters a newer processed delivery superseded."""
    rate = default_rate()
    count = len(ids)
    superseded = replay.superseded(ids)
    return {
        "superseded": [(pk, superseded[pk]) for pk in ids if pk in superseded][:SUPERSEDED_SHOWN],
        "superseded_count": len(superseded),
        "include_superseded": request.POST.get("include_superseded") == "1",
        "batch_fields": count > settings.DEADLETTER_INLINE_REPLAY_LIMIT,
        "rate": request.POST.get("rate", f"{rate:g}" if rate else ""),
        "fastest": request.POST.get("fastest") == "1" or (rate is None and "rate" not in request.POST),
        "canary": request.POST.get("canary", "0"),
        "destinations": list(ForwardDestination.objects.order_by("name").values_list("pk", "name", "url")),
        "destination": request.POST.get("destination", ""),
    }


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadOptions("That forward destination does not exist (any more).") from None
