"""A stock Prometheus scrapes /metrics: Debian's `prometheus` and `promtool`, on loopback.

Prometheus is started with a scrape job exactly as docs/operations.md shows it (bearer
token in its `authorization` block) against a live server of the console, and the
scraped series are read back through Prometheus's HTTP query API. Without the binaries the
tests are skipped, except under CI=true, where they fail (.ci/run installs them).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import IN_CI
from webhooks.models import WebhookEvent

KEY = "prometheus-scrape-key"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found (apt-get install -y prometheus)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(target: str, key: str) -> str:
    """The scrape job of docs/operations.md, for one target."""
    return f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: timedify
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: {key}
    static_configs:
      - targets: ["{target}"]
"""


@pytest.fixture
def prometheus(live_server: Any, settings: Any, tmp_path: Path) -> Iterator[str]:
    """A Prometheus on loopback scraping the live server every second; yields its base URL."""
    binary = _binary("prometheus")
    settings.METRICS_KEY = KEY
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(urllib.parse.urlsplit(live_server.url).netloc, KEY))
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback URL we built)
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def wait_for(base: str, promql: str, expected: float, timeout: float = 60) -> float | None:
    """The query's single value once it equals `expected` (or the last value seen)."""
    deadline, value = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = query(base, promql)
        except OSError:  # Prometheus still starting
            result = []
        if result:
            value = float(result[0]["value"][1])
            if value == expected:
                return value
        time.sleep(0.5)
    return value


def seed(n: int, latency_ms: float = 4.0) -> None:
    now = timezone.now()
    for _ in range(n):
        WebhookEvent.objects.create(
            topic="orders/create", webhook_id=str(uuid.uuid4()), received_at=now, status="processed",
            ack_latency_ms=latency_ms,
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_is_scraped_by_a_stock_prometheus_and_its_series_read_back(prometheus):
    seed(3)
    assert wait_for(prometheus, 'up{job="timedify"}', 1.0) == 1.0, "Prometheus could not scrape /metrics"
    assert wait_for(prometheus, "timedify_deliveries_received_total", 3.0) == 3.0
    seed(2, latency_ms=40.0)
    assert wait_for(prometheus, "timedify_deliveries_received_total", 5.0) == 5.0
    # The histogram is one Prometheus understands: 3 of 5 at or under 25 ms.
    assert wait_for(prometheus, 'timedify_ingest_latency_seconds_bucket{le="0.025"}', 3.0) == 3.0
    assert wait_for(prometheus, "timedify_ingest_latency_seconds_count", 5.0) == 5.0


@pytest.mark.django_db
def test_it_exposes_metrics_promtool_finds_nothing_to_say_about(settings):
    promtool = _binary("promtool")
    settings.METRICS_KEY = KEY
    seed(2)
    text = Client().get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).content
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")


def test_it_documents_a_scrape_job_and_rules_promtool_accepts(tmp_path):
    """The scrape job and the alert rules in docs/operations.md are valid as written."""
    promtool = _binary("promtool")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    blocks = doc.split("```yaml\n")[1:]
    config = next(b.split("```")[0] for b in blocks if "scrape_configs:" in b)
    rules = next(b.split("```")[0] for b in blocks if "groups:" in b)
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "prometheus.yml").write_text(config + "rule_files: [rules.yml]\n")
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
