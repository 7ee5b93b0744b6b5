"""LOG_FORMAT=json: one JSON object per line, with the webhook id on every line written
while an event is ingested or processed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from timedify_ops.jsonlog import JsonFormatter
from webhooks.handlers import REGISTRY, HandlerContext
from webhooks.logcontext import WebhookContextFilter
from webhooks.models import WebhookEvent
from webhooks.processing import process_until_settled

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def noisy_handler():
    """A handler that logs and fails, registered for the test only."""

    def noisy(ctx: HandlerContext) -> str:
        logging.getLogger("tests.noisy").info("working on it")
        raise RuntimeError("boom")

    REGISTRY["tests/noisy"] = noisy
    yield
    del REGISTRY["tests/noisy"]


class JsonLines(logging.Handler):
    """Like the production console handler: the context filter runs at emit time."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(WebhookContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def json_lines():
    handler, root = JsonLines(), logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    yield handler.lines
    root.removeHandler(handler)
    root.level = level


@pytest.mark.django_db(transaction=True)
def test_it_puts_the_webhook_id_on_every_line_about_an_event(deliver, json_lines, settings, noisy_handler):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    assert deliver({"id": 1}, topic="tests/noisy", webhook_id="wh-json-1").status_code == 200
    event = WebhookEvent.objects.get(webhook_id="wh-json-1")
    json_lines.clear()
    assert process_until_settled(event.pk) == "dead"
    lines = [line for line in json_lines if line["logger"] != "django-q"]
    assert any(line["message"] == "working on it" for line in lines)
    assert any("dead after" in line["message"] for line in lines)
    assert {(line["webhook_id"], line["event_pk"]) for line in lines} == {("wh-json-1", event.pk)}
    # Outside the event's scope, nothing is carried over.
    logging.getLogger("tests.noisy").info("after")
    assert json_lines[-1]["message"] == "after" and "webhook_id" not in json_lines[-1]


def test_it_writes_one_json_object_per_line_with_the_exception(json_lines):
    logger = logging.getLogger("tests.json")
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed %s", "here", extra={"shop": "a.myshopify.com"})
    line = json_lines[-1]
    assert line["message"] == "failed here" and line["level"] == "ERROR" and line["shop"] == "a.myshopify.com"
    assert "ValueError: bad value" in line["exc"]
    assert line["ts"].endswith("+00:00")


@pytest.mark.slow
def test_it_switches_the_console_log_to_json_with_log_format(tmp_path):
    code = "import logging; logging.getLogger('x').warning('hello %s', 'world')"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, "DEBUG": "1", "LOG_FORMAT": "json",
           "TIMEDIFY_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"logger": "x", "message": "hello world", "level": "WARNING"}.items() <= lines[-1].items()
