"""What the intake accepts from a request, checked once, where it enters (README.md,
"Intake contract"). Everything here is a pure function of the request: the views decide
the order (size, signature, headers, JSON) and store what these functions return.

- The body: read up to WEBHOOK_MAX_BODY_BYTES whether it came with a Content-Length or
  chunked (413 above the limit); a body this server cannot read (chunked under a server
  that does not decode it) is refused with 411, never read as empty and judged a bad
  signature.
- The JSON: valid UTF-8, an object, numbers a database can hold, nested no deeper than
  WEBHOOK_MAX_JSON_DEPTH (64 by default, at most 200), NUL and lone surrogates replaced (textsafe.clean_json).
- The headers: required ones present, printable and within their column's length (400);
  optional values parsed into what Python and both databases hold, or dropped; the stored
  copy follows one policy, STORED_HEADERS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from webhooks import jsonwalk, textsafe

NOT_AN_OBJECT = "body must be a JSON object"


class Refusal(Exception):
    """A delivery answered with `status` and counted as rejected under `reason`."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass(frozen=True)
class HeaderPolicy:
    """Which request headers are stored with an event, and which of those are stored only
    as REDACTED. Names are compared in lower case; a name is redacted when it contains one
    of `redacted_words`, so a new secret header (X-Shopify-Access-Token) is covered too."""

    kept_prefixes: tuple[str, ...]
    kept_names: frozenset[str]
    redacted_words: tuple[str, ...]
    most: int  # headers stored per event, at most
    value_limit: int  # characters per stored value

    def keeps(self, name: str) -> bool:
        lower = name.lower()
        return lower in self.kept_names or lower.startswith(self.kept_prefixes)

    def redacts(self, name: str) -> bool:
        lower = name.lower()
        return any(word in lower for word in self.redacted_words)

    def apply(self, headers: Mapping[str, str]) -> dict[str, str]:
        stored: dict[str, str] = {}
        for name, value in headers.items():
            if len(stored) >= self.most:
                break
            if self.keeps(name):
                key = textsafe.clean(name, 100)
                stored[key] = REDACTED if self.redacts(name) else textsafe.clean(value, self.value_limit)
        return stored


REDACTED = "[redacted]"
# The one redaction policy for stored headers: what support needs to read a delivery
# (topic, shop, ids, versions, times, the sender), never a signature, token or cookie.
STORED_HEADERS = HeaderPolicy(
    kept_prefixes=("x-shopify-", "stripe-", "x-timedify-"),
    kept_names=frozenset({"user-agent", "content-type", "content-length", "transfer-encoding"}),
    redacted_words=("hmac", "signature", "token", "secret", "authorization", "cookie", "password", "api-key", "apikey"),
    most=50,
    value_limit=1000,
)

# Earliest and latest instants Python and both databases hold, in UTC.
TIME_RANGE = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def read_body(request: HttpRequest) -> bytes:
    """The raw body, at most WEBHOOK_MAX_BODY_BYTES (Refusal 413 above, 411 when it is sent
    in a way this server cannot read, 400 for a Content-Length that is not a number)."""
    limit: int = settings.WEBHOOK_MAX_BODY_BYTES
    too_large = Refusal(413, "too_large", f"body larger than {limit} bytes")
    declared = request.META.get("CONTENT_LENGTH")
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").strip()
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise Refusal(400, "bad_request", "invalid Content-Length")
        if int(declared) > limit:
            raise too_large
        body = request.read(limit + 1)
    elif not encoding:
        body = b""  # neither header: an HTTP request without a body
    elif encoding.lower().endswith("chunked") and request.META.get("wsgi.input_terminated"):
        # Django reads a request without Content-Length as empty. A server that decodes
        # chunked bodies and ends the stream with them (gunicorn: wsgi.input_terminated)
        # lets us read the body itself, still no further than the limit.
        body = request.META["wsgi.input"].read(limit + 1)
    else:
        raise Refusal(411, "length_required", "send Content-Length (this server cannot read this Transfer-Encoding)")
    if len(body) > limit:
        raise too_large
    return body


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a storable JSON object, or Refusal 400."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "bad_json", "body is not valid UTF-8 JSON") from None
    depth_limit: int = settings.WEBHOOK_MAX_JSON_DEPTH
    too_deep = Refusal(400, "too_deep", f"JSON nested deeper than {depth_limit} levels")
    try:
        # NaN, Infinity and 1e400 parse in Python but no database stores them: refuse
        # them here (400) rather than fail the INSERT (500 on SQLite, 503 forever on PostgreSQL).
        payload = json.loads(text, parse_float=_finite, parse_constant=_not_json)
    except ValueError:
        raise Refusal(400, "bad_json", "body is not valid UTF-8 JSON") from None
    except RecursionError:  # the parser recurses per level: far deeper than any limit
        raise too_deep from None
    if not isinstance(payload, dict):
        raise Refusal(400, "bad_json", NOT_AN_OBJECT)
    # Fewer brackets than the limit cannot nest deeper than it: most deliveries skip the walk.
    if text.count("{") + text.count("[") > depth_limit and jsonwalk.depth(payload) > depth_limit:
        raise too_deep
    lowered = text.lower()
    if "\\u0000" in lowered or "\\ud" in lowered:
        # NUL and lone surrogates (only reachable through \u escapes): PostgreSQL's jsonb
        # and SQLite's JSON check refuse them, and the event must be kept.
        payload = textsafe.clean_json(payload)
    return payload


def required_header(request: HttpRequest, name: str, limit: int) -> str:
    """A header the delivery cannot do without: present, printable, at most `limit`
    characters (its column's max_length), else Refusal 400."""
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise Refusal(400, "missing_header", f"missing header {name}")
    if not value.isprintable() or len(value) > limit:
        raise Refusal(400, "bad_header", f"header {name} is not printable text of at most {limit} characters")
    return value


def payload_text(payload: dict[str, Any], key: str, limit: int) -> str:
    """A field the delivery cannot do without (Stripe's id and type, which become the
    delivery id and the topic): printable text of at most `limit` characters, else 400."""
    value = payload.get(key)
    if not isinstance(value, str) or not value or not value.isprintable() or len(value) > limit:
        raise Refusal(400, "bad_json", f"event has no printable string {key} of at most {limit} characters")
    return value


def in_time_range(value: datetime) -> datetime | None:
    """`value` in UTC, or None when UTC cannot hold it (year 9999 with a negative offset,
    year 1 with a positive one): such a row would be stored and then unreadable."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return None
    return utc if TIME_RANGE[0] <= utc <= TIME_RANGE[1] else None


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 header time (X-Shopify-Triggered-At), or None to drop it."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return in_time_range(parsed)


def unix_time(value: object) -> datetime | None:
    """A Unix time from a payload (Stripe's `created`), or None to drop it."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return in_time_range(datetime.fromtimestamp(value, UTC))
    except (OverflowError, OSError, ValueError):
        return None
