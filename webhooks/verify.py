"""Signature checks for inbound webhooks. Pure functions of bytes and secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable


def shopify_signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw body)), the value of X-Shopify-Hmac-Sha256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def shopify_hmac_valid(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """True when the header matches the body under any configured secret (rotation).

    Every secret is tried, so the time taken does not reveal which one matched.
    """
    if not header:
        return False
    valid = False
    for secret in secrets:
        if secret:
            valid |= hmac.compare_digest(shopify_signature(body, secret).encode(), header.strip().encode())
    return valid


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex v1 signature Stripe sends: HMAC-SHA256 over "{t}.{body}"."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def stripe_signature_problem(
    body: bytes, header: str | None, secret: str, *, tolerance: int, now: float | None = None
) -> str | None:
    """None when the Stripe-Signature header is valid, else a short reason.

    Mirrors Stripe's own library: the header is `t=<unix time>,v1=<hex>[,v1=...]`; any v1
    that matches passes, and a timestamp older than the tolerance is refused (replays).
    """
    if not secret:
        return "no secret configured"
    if not header:
        return "missing Stripe-Signature"
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return "malformed timestamp"
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return "malformed Stripe-Signature"
    expected = stripe_signature(body, secret, timestamp).encode()
    if not any(hmac.compare_digest(expected, c.encode()) for c in candidates):
        return "signature mismatch"
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return "timestamp outside the tolerance"
    return None
