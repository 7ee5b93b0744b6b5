"""Who acts on a dead letter or a batch: the actor type, and the user a row records.

Below the models and the batches, which both take an actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    # A person in the admin, or None for the command line and background jobs.
    Actor = AbstractBaseUser | AnonymousUser | None


def user_or_none(actor: Actor) -> Any:
    """The user to record for this actor: an authenticated one, else None."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None
