"""Can a replay help? A plain answer from the recorded error, for the top of a dead letter's
page. One home for the rule (house style 18): the admin page and the CLI read it here.

The error class is recorded as `module.Class` (`webhooks.errors.PayloadInvalid`,
`requests.exceptions.ConnectTimeout`), the message as the exception's text. The rule:
- a permanent error or an invalid payload fails again the same way unless code, data or
  configuration changed: offer Ignore;
- a destination that timed out, refused the connection or answered 5xx or 429 is likely
  to take the delivery once it is back: replay later;
- anything else is unclear: a dry run shows what a replay would do now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# A status code as the forwarder and the Admin API client write it ("HTTP 502 from ...").
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_TRANSIENT_WORDS = ("timeout", "timed out", "connectionerror", "connection refused", "connecttimeout", "readtimeout",
                    "temporarily unavailable", "retry-after")
_PERMANENT = {
    "PayloadInvalid": "data",
    "TokenInvalid": "configuration",
    "PermanentError": "code or configuration",
}


class Chance(StrEnum):
    LIKELY = "likely"
    UNLIKELY = "unlikely"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Verdict:
    chance: Chance
    headline: str
    advice: str
    suggest_ignore: bool = False


def replay_verdict(error_class: str, error_message: str) -> Verdict:
    name = error_class.rsplit(".", 1)[-1]
    text = f"{name} {error_message}".lower()
    if name in _PERMANENT:
        what = _PERMANENT[name]
        return Verdict(
            Chance.UNLIKELY,
            "A replay will fail again.",
            f"This error is permanent: the handler refused the delivery. It will fail the same way unless the {what} "
            "changed (for example a fix was deployed, or the shop's settings were corrected). If nothing changed, "
            "Ignore it with a note.",
            suggest_ignore=True,
        )
    status = _HTTP_STATUS.search(error_message)
    code = int(status.group(1)) if status else 0
    if code >= 500 or code == 429 or any(word in text for word in _TRANSIENT_WORDS):
        reason = f"answered HTTP {code}" if code else "did not answer in time or refused the connection"
        return Verdict(
            Chance.LIKELY,
            "A replay is likely to work once the destination is back.",
            f"The destination {reason}: a temporary problem on its side. Check that it is up again "
            "(the ops dashboard shows its circuit breaker), then replay.",
        )
    if 400 <= code < 500:
        return Verdict(
            Chance.UNLIKELY,
            "A replay will probably fail again.",
            f"The destination refused the delivery (HTTP {code}): the request itself or its configuration "
            "(address, credentials) is wrong. Replay only after that was changed; otherwise Ignore it with a note.",
            suggest_ignore=True,
        )
    return Verdict(
        Chance.UNCLEAR,
        "A replay may or may not help.",
        "The error does not say whether it was temporary. Try a dry run first: it shows what a replay would do now "
        "and changes nothing.",
    )
