"""GET /api/metrics (JSON) and GET /metrics (Prometheus text), for a staff session or a
scraper that sends `Authorization: Bearer <METRICS_KEY>` (what Prometheus's own
`authorization` block sends) or, as before, `X-Metrics-Key: <METRICS_KEY>`.

No key and no staff session: 401. A wrong key, or a signed-in user who is not staff: 403.
The Prometheus registry is built per request from one stats snapshot, so a scrape reads
the database once and a process never keeps stale global metrics. Counters and the
latency histogram come from the database too (timedify_ops.counters): every process
answers with the same, monotonic values, across restarts.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from timedify_ops import counters, stats

View = Callable[[HttpRequest], HttpResponse]


def _presented_key(request: HttpRequest) -> str | None:
    """The key from `Authorization: Bearer <key>`, else from `X-Metrics-Key`, else None.
    Another Authorization scheme is no key (a staff session may still apply)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-Metrics-Key")


def metrics_access(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        key = _presented_key(request)
        if key is not None:
            expected = settings.METRICS_KEY
            if not expected or not hmac.compare_digest(key.encode(), expected.encode()):
                return JsonResponse({"error": "invalid metrics key"}, status=403)
            return view(request)
        user = request.user
        if not user.is_authenticated:
            response = JsonResponse({"error": "staff session or Authorization: Bearer <key> required"}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not user.is_staff:
            return JsonResponse({"error": "staff only"}, status=403)
        return view(request)

    return wrapped


@require_GET
@never_cache
@metrics_access
def api_metrics(request: HttpRequest) -> JsonResponse:
    return JsonResponse(stats.snapshot())


@require_GET
@never_cache
@metrics_access
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(stats.snapshot()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


class SnapshotCollector(Collector):
    """Turns one `stats.snapshot()` into Prometheus gauges, names prefixed `timedify_`."""

    def __init__(self, snap: dict[str, Any]) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        yield GaugeMetricFamily("timedify_uptime_seconds", "Seconds since this process started.", s["uptime_s"])

        status = GaugeMetricFamily(
            "timedify_status", "1 for the system's current status (ok, unknown, degraded, down).", labels=["status"]
        )
        for name in stats.RANK:
            status.add_metric([name], 1.0 if s["status"]["status"] == name else 0.0)
        yield status
        yield GaugeMetricFamily("timedify_alert_level", "Latest alerting level (1-3).", s["status"]["alert_level"])

        events = GaugeMetricFamily(
            "timedify_webhook_events", "Events received in the window, by status.", labels=["window", "status"]
        )
        for window, counts in s["events"].items():
            for name, n in counts.items():
                events.add_metric([window, name], n)
        yield events
        rate = GaugeMetricFamily("timedify_webhook_error_rate", "Failed or dead / received.", labels=["window"])
        for window, figures in s["errors"].items():
            rate.add_metric([window], figures["error_rate"])
        yield rate

        dl = s["dead_letters"]
        yield GaugeMetricFamily("timedify_dead_letters_open", "Open dead letters.", dl["open"])
        by_topic = GaugeMetricFamily("timedify_dead_letters_open_by_topic", "Open dead letters.", labels=["topic"])
        for row in dl["by_topic"]:
            by_topic.add_metric([row["topic"]], row["n"])
        yield by_topic

        q = s["queue"]
        yield GaugeMetricFamily("timedify_queue_depth", "Tasks waiting in the broker.", q["broker"]["depth"] or 0)
        yield GaugeMetricFamily(
            "timedify_queue_oldest_age_seconds", "Age of the oldest waiting task.", q["broker"]["oldest_age_s"] or 0
        )
        yield GaugeMetricFamily("timedify_events_pending", "Events received or processing.", q["pending_events"])
        yield GaugeMetricFamily(
            "timedify_events_oldest_pending_age_seconds", "Age of the oldest unclaimed event.",
            q["oldest_pending_age_s"] or 0,
        )
        yield GaugeMetricFamily("timedify_events_stuck", "Events processing past their lease.", q["stuck_events"])
        yield GaugeMetricFamily("timedify_clusters", "django-q2 clusters seen alive.", len(s["clusters"]))
        workers = GaugeMetricFamily("timedify_cluster_workers", "Workers per cluster.", labels=["cluster", "status"])
        for c in s["clusters"]:
            workers.add_metric([c["cluster_id"], c["status"]], c["workers"])
        yield workers

        yield from self._counters(s["counters"])
        yield from self._slo(s["slo"], s["latency"])
        yield from self._breakers(s["breakers"])
        yield from self._schedules(s["schedules"])

    def _counters(self, totals: dict[str, float]) -> Iterator[Metric]:
        helps = {
            "received": "Deliveries stored (synthetic excluded).",
            "refused": "Deliveries refused before storing (bad signature, bad request, too large).",
            "processed": "Handler attempts that succeeded or found no handler (replays included).",
            "failed": "Handler attempts that failed (retries and replays included).",
            "dead_lettered": "Dead letters opened.",
        }
        for name in counters.COUNTERS:
            yield CounterMetricFamily(f"timedify_deliveries_{name}", helps[name], value=totals.get(name, 0.0))
        buckets = [(f"{b:g}", totals.get(f"le_{b:g}", 0.0)) for b in counters.LATENCY_BUCKETS_S]
        buckets.append(("+Inf", totals.get("latency_count", 0.0)))
        yield HistogramMetricFamily(
            "timedify_ingest_latency_seconds", "Time from request start to the stored row (synthetic excluded).",
            buckets=buckets, sum_value=totals.get("latency_sum_s", 0.0),
        )

    def _slo(self, slo: dict[str, Any], recent: dict[str, Any]) -> Iterator[Metric]:
        latency = GaugeMetricFamily(
            "timedify_ingest_latency_quantile_seconds",
            "Ingest latency percentiles by nearest rank (figures.percentile), synthetic excluded.",
            # Not "quantile": promtool keeps that label for summaries.
            labels=["window", "percentile"],
        )
        for window, values in recent.items():
            for name in ("p95", "p99"):
                if values[f"{name}_ms"] is not None:
                    latency.add_metric([window, name], values[f"{name}_ms"] / 1000)
        errors = GaugeMetricFamily("timedify_slo_error_rate", "Error rate over the SLO window.", labels=["window"])
        compliance = GaugeMetricFamily(
            "timedify_slo_compliance_ratio", "Share of hours with traffic within every SLO.", labels=["window"]
        )
        for window in ("last_7d", "last_30d"):
            figures = slo[window]
            for name in ("p50", "p95", "p99"):
                if figures[f"{name}_ms"] is not None:
                    latency.add_metric([window, name], figures[f"{name}_ms"] / 1000)
            errors.add_metric([window], figures["error_rate"])
            compliance.add_metric([window], figures["compliance_pct"] / 100.0)
        yield latency
        yield errors
        yield compliance

    def _breakers(self, rows: list[dict[str, Any]]) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "timedify_breaker_state", "1 for each destination's breaker state.", labels=["destination", "state"]
        )
        paused = GaugeMetricFamily("timedify_breaker_paused", "1 when paused by staff.", labels=["destination"])
        failures = GaugeMetricFamily(
            "timedify_breaker_consecutive_failures", "Failures in a row.", labels=["destination"]
        )
        for b in rows:
            for name in ("closed", "open", "half_open"):
                state.add_metric([b["name"], name], 1.0 if b["state"] == name else 0.0)
            paused.add_metric([b["name"]], 1.0 if b["paused"] else 0.0)
            failures.add_metric([b["name"]], b["consecutive_failures"])
        yield state
        yield paused
        yield failures

    def _schedules(self, rows: list[dict[str, Any]]) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "timedify_schedule_last_run_timestamp_seconds", "Start of the last run.", labels=["schedule"]
        )
        ok = GaugeMetricFamily("timedify_schedule_last_run_ok", "1 when the last run was ok.", labels=["schedule"])
        nxt = GaugeMetricFamily(
            "timedify_schedule_next_run_timestamp_seconds", "When it runs next.", labels=["schedule"]
        )
        for r in rows:
            if r["last_run"]:
                last.add_metric([r["name"]], _ts(r["last_run"]))
                ok.add_metric([r["name"]], 1.0 if r["last_status"] == "ok" else 0.0)
            if r["next_run"]:
                nxt.add_metric([r["name"]], _ts(r["next_run"]))
        yield last
        yield ok
        yield nxt
