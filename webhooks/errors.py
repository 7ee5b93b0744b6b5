"""Exceptions a handler raises to steer processing."""

from __future__ import annotations

from datetime import datetime


class PermanentError(Exception):
    """Retrying cannot fix this (bad payload, unknown shop state): dead-letter at once."""


class PayloadInvalid(PermanentError):
    """The payload lacks what the handler needs."""


class RetryLater(Exception):
    """The work cannot be done now and must not count as a failure (a paused destination,
    an open circuit breaker). The event waits, neither lost nor dead-lettered."""

    def __init__(self, until: datetime, reason: str, *, waiting_for: str = "") -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason
        # The breaker the event waits for (CircuitBreaker.waiting_key): its resume
        # releases the event at once.
        self.waiting_for = waiting_for


class SuspiciousDelivery(PermanentError):
    """What the signature covers and what it does not disagree (a privacy request whose
    X-Shopify-Shop-Domain header names another shop than its signed payload): never acted on."""
