"""The benchmark harness: its load is real deliveries, and it refuses SQLite by default.

The timings themselves are never asserted (shared machines); `make bench-smoke` runs the
whole harness at tiny sizes to keep it working.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.loadgen import build_requests, percentile
from conftest import SHOPIFY_SECRET
from webhooks.models import WebhookEvent

ROOT = Path(__file__).resolve().parent.parent


def as_client_call(raw: bytes) -> tuple[str, bytes, dict[str, str]]:
    head, body = raw.split(b"\r\n\r\n", 1)
    request_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    for hop in ("Host", "Content-Length", "Content-Type"):
        headers.pop(hop)
    return request_line.split()[1], body, headers


@pytest.mark.django_db
def test_it_builds_unique_signed_deliveries_the_console_stores(client: Any) -> None:
    requests = build_requests(
        3, host="127.0.0.1", port=8000, path="/webhooks/shopify/", secret=SHOPIFY_SECRET,
        prefix="bench-test", topic="app/scopes_update", shops=2,
    )
    for raw in requests:
        path, body, headers = as_client_call(raw)
        response = client.post(path, data=body, content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "stored"
    stored = WebhookEvent.objects.filter(webhook_id__startswith="bench-test-")
    assert sorted(stored.values_list("webhook_id", flat=True)) == ["bench-test-0", "bench-test-1", "bench-test-2"]
    assert set(stored.values_list("shop_domain", flat=True)) == {"bench-shop-0.myshopify.com", "bench-shop-1.myshopify.com"}


def test_it_refuses_to_benchmark_sqlite_unless_asked(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}"}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "ingest"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--allow-sqlite" in result.stdout
    assert not (tmp_path / "bench.sqlite3").exists()


def test_it_interpolates_percentiles_between_ranks() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0
