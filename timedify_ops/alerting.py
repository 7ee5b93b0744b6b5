"""Alerting: the runbook's levels over a short window, notified only when the level changes.

Level 1: normal. Level 2 (errors found): webhook error rate above ALERT_ERROR_RATE_PCT,
response time (ack latency p95) above ALERT_RESPONSE_MS, more than ALERT_DEADLETTERS_MAX
open dead letters, compliance requests failed or near their deadline, a topic silent
for longer than its gap, or health degraded.
Level 3 (outage): health down (database, migrations, an HTTP target unreachable) or every
webhook in the window failed. Synthetic deliveries are left out of every figure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import DatabaseError
from django.utils import timezone

from timedify_ops import figures
from timedify_ops.health import check_database, full_health
from timedify_ops.jobtypes import Outcome
from timedify_ops.models import AlertState, JobRun, JobStatus
from webhooks.compliance import WARN_DAYS
from webhooks.models import ComplianceRequest, WebhookEvent

logger = logging.getLogger(__name__)

LEVEL_NAMES = {1: "normal", 2: "errors found", 3: "outage"}


def latest_health() -> dict[str, Any]:
    """The latest scheduled health result if it is fresh, else a new check."""
    limit = timezone.now() - timedelta(seconds=settings.ALERT_HEALTH_MAX_AGE_SECONDS)
    last = (
        JobRun.objects.filter(task="health_check", started_at__gte=limit, details__has_key="status")
        .exclude(status=JobStatus.RUNNING)
        .order_by("-started_at")
        .values_list("details", flat=True)
        .first()
    )
    return last if last else full_health()


@dataclass
class Facts:
    """What every check reads, computed once per evaluation from `figures`."""

    now: datetime
    window_minutes: int
    errors: figures.ErrorCounts
    p95: float | None
    p99: float | None
    dead_letters_open: int
    health: dict[str, Any]
    # Filled by check_silent_topics: topic -> minutes since its last delivery.
    silent_topics: dict[str, int] = field(default_factory=dict)
    # Filled by check_compliance.
    compliance_needing_attention: int = 0

    @classmethod
    def gather(cls) -> Facts:
        now = timezone.now()
        window = timedelta(minutes=settings.ALERT_WINDOW_MINUTES)
        histogram = figures.latency(window, now)
        return cls(
            now=now,
            window_minutes=settings.ALERT_WINDOW_MINUTES,
            errors=figures.errors(window, now),
            p95=figures.percentile(histogram, 0.95),
            p99=figures.percentile(histogram, 0.99),
            dead_letters_open=figures.open_dead_letters(),
            health=latest_health(),
        )


@dataclass(frozen=True)
class Finding:
    """One reason for a level. `area` "system" is a fault of the pipeline, "health" repeats
    the health check's own verdict, "backlog" is work waiting for people (the dashboard
    shows the system apart from the backlog, and health's reasons once)."""

    level: int
    text: str
    area: str = "system"


Check = Callable[[Facts], list[Finding]]


def check_health(f: Facts) -> list[Finding]:
    status = f.health.get("status")
    if status not in ("down", "degraded"):
        return []
    reasons = "; ".join(f.health.get("reasons", []))
    return [Finding(3 if status == "down" else 2, f"health {status}: {reasons}", area="health")]


def check_error_rate(f: Facts) -> list[Finding]:
    e, window = f.errors, f.window_minutes
    if e.events >= settings.ALERT_ALL_FAILING_MIN_EVENTS and e.errors == e.events:
        return [Finding(3, f"all {e.events} webhooks in the last {window} min failed")]
    pct = 100.0 * e.rate
    if pct > settings.ALERT_ERROR_RATE_PCT:
        return [Finding(2, f"error rate {pct:.1f} % > {settings.ALERT_ERROR_RATE_PCT:g} % ({e.errors}/{e.events})")]
    return []


def check_response_time(f: Facts) -> list[Finding]:
    if f.p95 is not None and f.p95 > settings.ALERT_RESPONSE_MS:
        return [Finding(2, f"response time p95 {f.p95:.0f} ms > {settings.ALERT_RESPONSE_MS:.0f} ms")]
    return []


def check_dead_letters(f: Facts) -> list[Finding]:
    n = f.dead_letters_open
    if n > settings.ALERT_DEADLETTERS_MAX:
        return [Finding(2, f"{n} open dead letters > {settings.ALERT_DEADLETTERS_MAX}", area="backlog")]
    return []


def check_silent_topics(f: Facts) -> list[Finding]:
    found = []
    for topic, gap in settings.ALERT_TOPIC_GAPS.items():
        last = (
            WebhookEvent.objects.filter(topic=topic, synthetic=False)
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        # A topic never seen does not "normally arrive": only a known topic can fall silent.
        if last and f.now - last > timedelta(minutes=gap):
            minutes = int((f.now - last).total_seconds() // 60)
            f.silent_topics[topic] = minutes
            found.append(Finding(2, f"no {topic} for {minutes} min (gap {gap} min)"))
    return found


def check_compliance(f: Facts) -> list[Finding]:
    """Compliance requests failed or close to their 30-day deadline: work for people."""
    ComplianceRequest.objects.mark_overdue(f.now)
    n = f.compliance_needing_attention = ComplianceRequest.objects.needing_attention(f.now).count()
    if n:
        return [Finding(2, f"{n} compliance requests failed or within {WARN_DAYS} days of their deadline", area="backlog")]
    return []


# The runbook's checks, in the order their reasons are listed. Add a check by appending a
# function that takes the Facts and returns its findings.
CHECKS: list[Check] = [
    check_health, check_error_rate, check_response_time, check_dead_letters, check_compliance, check_silent_topics,
]


def evaluate() -> dict[str, Any]:
    """{"level": 1 | 2 | 3, "reasons": [str], "findings": [{"level", "text", "area"}],
    "window_minutes", "events", "errors", "error_rate_pct", "p95_ms", "p99_ms", "slo",
    "dead_letters_open", "health"}. Reads only; `check()` notifies."""
    if not check_database()["ok"]:
        return {
            "level": 3, "reasons": ["database down"], "findings": [{"level": 3, "text": "database down", "area": "system"}],
            "health": {"status": "down", "reasons": ["database down"]},
        }
    f = Facts.gather()
    findings = sorted((finding for check in CHECKS for finding in check(f)), key=lambda x: -x.level)
    level = max([1] + [x.level for x in findings])
    t = figures.targets()
    return {
        "level": level,
        "reasons": [x.text for x in findings],
        "findings": [{"level": x.level, "text": x.text, "area": x.area} for x in findings],
        "window_minutes": f.window_minutes,
        "events": f.errors.events,
        "errors": f.errors.errors,
        "error_rate_pct": round(100.0 * f.errors.rate, 2),
        "p95_ms": f.p95,
        "p99_ms": f.p99,
        "slo": {**t.met(f.p95, f.p99, f.errors.rate), "p95_target_ms": t.p95_ms, "p99_target_ms": t.p99_ms},
        "dead_letters_open": f.dead_letters_open,
        "compliance_needing_attention": f.compliance_needing_attention,
        "silent_topics": f.silent_topics,
        "health": {"status": f.health.get("status"), "reasons": f.health.get("reasons", [])},
    }


def notify(level: int, previous: int, reasons: list[str]) -> dict[str, Any]:
    """E-mail ALERT_EMAILS and POST a Slack-compatible {"text": ...} to ALERT_WEBHOOK_URL.
    Returns what was sent; a channel that fails is reported, not raised."""
    if level < previous and level == 1:
        subject = f"[Timedify] recovered: level {previous} -> 1 (normal)"
    else:
        subject = f"[Timedify] level {level} ({LEVEL_NAMES[level]}), was {previous or 'unknown'}"
    body = subject + ("\n\n" + "\n".join(f"- {r}" for r in reasons) if reasons else "")
    sent: dict[str, Any] = {"subject": subject}
    if settings.ALERT_EMAILS:
        try:
            sent["email"] = send_mail(subject, body, settings.ALERT_FROM_EMAIL, settings.ALERT_EMAILS)
        except Exception as exc:  # noqa: BLE001  (an SMTP failure must not hide the other channel)
            sent["email_error"] = f"{type(exc).__name__}: {exc}"
    if settings.ALERT_WEBHOOK_URL:
        try:
            response = requests.post(settings.ALERT_WEBHOOK_URL, json={"text": body}, timeout=5)
            response.raise_for_status()
            sent["webhook"] = response.status_code
        except requests.RequestException as exc:
            sent["webhook_error"] = f"{type(exc).__name__}"
    return sent


def check() -> Outcome:
    """Evaluate, and notify when the level differs from the stored one (recovery too)."""
    result = evaluate()
    level = result["level"]
    try:
        state, _ = AlertState.objects.get_or_create(pk=1)
        previous = state.level
        now = timezone.now()
        # Claim the change with a conditional UPDATE: two overlapping runs notify once.
        changed = previous != level and (
            AlertState.objects.filter(pk=1, level=previous).update(
                level=level, reasons=result["reasons"], changed_at=now, evaluated_at=now
            )
            == 1
        )
        if not changed:
            AlertState.objects.filter(pk=1).update(reasons=result["reasons"], evaluated_at=now)
    except DatabaseError:
        # The database is down: nothing to compare with; say so on every run rather than never.
        previous, changed = 0, True
    result["previous_level"] = previous
    result["notified"] = notify(level, previous, result["reasons"]) if changed else None
    failed_channels = result["notified"] and any(k.endswith("_error") for k in result["notified"])
    status = {1: JobStatus.OK, 2: JobStatus.WARNING}.get(level, JobStatus.FAILED)
    if failed_channels and status == JobStatus.OK:
        status = JobStatus.WARNING
    summary = f"level {level} ({LEVEL_NAMES[level]})"
    if result["reasons"]:
        summary += ": " + "; ".join(result["reasons"])
    if changed:
        summary += f"; was {previous}, notified"
    return Outcome(status, summary, result)
