"""Alerting: the runbook's levels over a short window, notified only when the level changes.

Level 1: normal. Level 2 (errors found): webhook error rate above ALERT_ERROR_RATE_PCT,
response time (ack latency p95) above ALERT_RESPONSE_MS, more than ALERT_DEADLETTERS_MAX
open dead letters, a topic silent for longer than its gap, or health degraded.
Level 3 (outage): health down (database, migrations, an HTTP target unreachable) or every
webhook in the window failed. Synthetic deliveries are left out of every figure.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import DatabaseError
from django.utils import timezone

from timedify_ops.health import check_database, full_health
from timedify_ops.jobs import Outcome
from timedify_ops.models import AlertState, JobRun, JobStatus

logger = logging.getLogger(__name__)

LEVEL_NAMES = {1: "normal", 2: "errors found", 3: "outage"}


def _percentile(qs: Any, n: int, fraction: float) -> float | None:
    """The value at rank ceil(n * fraction) without loading the column: the database sorts,
    one row comes back."""
    if not n:
        return None
    rank = min(n - 1, max(0, int(-(-n * fraction // 1)) - 1))
    return qs.order_by("ack_latency_ms").values_list("ack_latency_ms", flat=True)[rank]


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


def evaluate() -> dict[str, Any]:
    """{"level": 1 | 2 | 3, "reasons": [str], "window_minutes", "events", "errors",
    "error_rate_pct", "p95_ms", "p99_ms", "slo", "dead_letters_open", "silent_topics",
    "health"}. Reads only; `check()` notifies."""
    from deadletters.models import DeadLetter
    from webhooks.compliance import WARN_DAYS
    from webhooks.models import ComplianceRequest, EventStatus, WebhookEvent

    if not check_database()["ok"]:
        return {"level": 3, "reasons": ["database down"], "health": {"status": "down"}}

    now = timezone.now()
    window = settings.ALERT_WINDOW_MINUTES
    recent = WebhookEvent.objects.filter(received_at__gte=now - timedelta(minutes=window), synthetic=False)
    total = recent.count()
    errors = recent.filter(status__in=[EventStatus.FAILED, EventStatus.DEAD]).count()
    rate = round(100.0 * errors / total, 2) if total else 0.0
    timed = recent.filter(ack_latency_ms__isnull=False)
    n_timed = timed.count()
    p95, p99 = _percentile(timed, n_timed, 0.95), _percentile(timed, n_timed, 0.99)
    dead_open = DeadLetter.objects.unresolved().count()
    health = latest_health()

    level3: list[str] = []
    level2: list[str] = []
    if health.get("status") == "down":
        level3.append("health down: " + "; ".join(health.get("reasons", [])))
    elif health.get("status") == "degraded":
        level2.append("health degraded: " + "; ".join(health.get("reasons", [])))
    if total >= settings.ALERT_ALL_FAILING_MIN_EVENTS and errors == total:
        level3.append(f"all {total} webhooks in the last {window} min failed")
    elif rate > settings.ALERT_ERROR_RATE_PCT:
        level2.append(f"error rate {rate:.1f} % > {settings.ALERT_ERROR_RATE_PCT:g} % ({errors}/{total})")
    if p95 is not None and p95 > settings.ALERT_RESPONSE_MS:
        level2.append(f"response time p95 {p95:.0f} ms > {settings.ALERT_RESPONSE_MS:.0f} ms")
    if dead_open > settings.ALERT_DEADLETTERS_MAX:
        level2.append(f"{dead_open} open dead letters > {settings.ALERT_DEADLETTERS_MAX}")
    ComplianceRequest.objects.mark_overdue(now)
    compliance = ComplianceRequest.objects.needing_attention(now).count()
    if compliance:
        level2.append(f"{compliance} compliance requests failed or within {WARN_DAYS} days of their deadline")

    silent = {}
    for topic, gap in settings.ALERT_TOPIC_GAPS.items():
        last = (
            WebhookEvent.objects.filter(topic=topic, synthetic=False)
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        # A topic never seen does not "normally arrive": only a known topic can fall silent.
        if last and now - last > timedelta(minutes=gap):
            minutes = int((now - last).total_seconds() // 60)
            silent[topic] = minutes
            level2.append(f"no {topic} for {minutes} min (gap {gap} min)")

    slo = {
        "p95_ok": p95 is None or p95 <= settings.SLO_P95_MS,
        "p99_ok": p99 is None or p99 <= settings.SLO_P99_MS,
        "p95_target_ms": settings.SLO_P95_MS,
        "p99_target_ms": settings.SLO_P99_MS,
    }
    level = 3 if level3 else 2 if level2 else 1
    return {
        "level": level,
        "reasons": level3 + level2,
        "window_minutes": window,
        "events": total,
        "errors": errors,
        "error_rate_pct": rate,
        "p95_ms": p95,
        "p99_ms": p99,
        "slo": slo,
        "dead_letters_open": dead_open,
        "compliance_needing_attention": compliance,
        "silent_topics": silent,
        "health": {"status": health.get("status"), "reasons": health.get("reasons", [])},
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
