"""Settings: each variable read once, every number checked against its range, one reader of
"key=value" lists; a bad value stops the start naming the variable."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, settings
from hypothesis import strategies as st

from timedify_ops.checks import check_numeric_settings
from timedify_ops.env import DECLARED

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "settings.py"
ROOT = SETTINGS_FILE.parents[1]


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The settings module evaluated afresh under these variables."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def bad_values(name: str) -> st.SearchStrategy[str]:
    bounds = DECLARED[name]
    below = st.integers(max_value=int(bounds.minimum) - 1).map(str)
    above = st.integers(min_value=int(bounds.maximum) + 1, max_value=10**30).map(str)
    words = st.sampled_from(["nan", "inf", "-inf", "ten", "1,5", "0x10", "1e999", "--1", "🙂"])
    fractions = st.just("2.5") if bounds.whole else st.nothing()
    return below | above | words | fractions


def test_it_reads_every_setting_once():
    source = SETTINGS_FILE.read_text()
    for name in [*DECLARED, "LOG_FORMAT", "LOG_LEVEL"]:
        assert len(re.findall(rf'env\w+\("{name}"', source)) == 1, name
    assert source.count("LOGGING =") == 1
    assert "LOGGING[" not in source


def test_it_uses_the_database_dependent_defaults(monkeypatch):
    sqlite = load(monkeypatch, DATABASE_URL="sqlite:////tmp/x.sqlite3")
    postgres = load(monkeypatch, DATABASE_URL="postgres://u@127.0.0.1:5432/x")
    assert (sqlite["DATABASES"]["default"]["CONN_MAX_AGE"], sqlite["Q_CLUSTER"]["workers"]) == (0, 2)
    assert (postgres["DATABASES"]["default"]["CONN_MAX_AGE"], postgres["Q_CLUSTER"]["workers"]) == (60, 4)
    explicit = load(monkeypatch, CONN_MAX_AGE="0", Q_WORKERS="3")
    assert (explicit["DATABASES"]["default"]["CONN_MAX_AGE"], explicit["Q_CLUSTER"]["workers"]) == (0, 3)


def test_it_applies_the_log_format_to_the_one_logging_setting(monkeypatch):
    loaded = load(monkeypatch, LOG_FORMAT="json", LOG_LEVEL="WARNING")
    assert loaded["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    assert loaded["LOGGING"]["root"]["level"] == "WARNING"


@pytest.mark.parametrize(
    ("name", "value"),
    [("WEBHOOK_RETRY_DELAYS", "-1"), ("WEBHOOK_RETRY_DELAYS", "0.3,x"), ("WEBHOOK_RETRY_DELAYS", "1,inf"),
     ("Q_POLL", "0"), ("CONN_MAX_AGE", "-5"), ("WEBHOOK_MAX_JSON_DEPTH", "100000"), ("Q_WORKERS", "0")],
)
def test_it_refuses_a_bad_number_naming_the_variable(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=f"^{name}"):
        load(monkeypatch, **{name: value})


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_it_refuses_every_number_outside_its_range(data):
    name = data.draw(st.sampled_from(sorted(DECLARED)))
    raw = data.draw(bad_values(name))
    with pytest.MonkeyPatch.context() as monkeypatch, pytest.raises(ImproperlyConfigured) as info:
        load(monkeypatch, **{name: raw})
    assert str(info.value).startswith(name)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_it_accepts_both_ends_of_every_range(data):
    name = data.draw(st.sampled_from(sorted(set(DECLARED) - {"WEBHOOK_RETRY_DELAYS"})))
    bounds = DECLARED[name]
    value = data.draw(st.sampled_from([bounds.minimum, bounds.maximum]))
    raw = str(int(value)) if bounds.whole else repr(float(value))
    with pytest.MonkeyPatch.context() as monkeypatch:
        loaded = load(monkeypatch, **{name: raw})
    if name in loaded:  # AXES_IPWARE_PROXY_COUNT 0 is axes' None: "no proxy, use REMOTE_ADDR"
        assert loaded[name] == (None if (name, value) == ("AXES_IPWARE_PROXY_COUNT", 0) else value)


def test_it_reads_an_empty_retry_list_as_no_retry(monkeypatch):
    assert load(monkeypatch, WEBHOOK_RETRY_DELAYS="")["WEBHOOK_RETRY_DELAYS"] == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("WEBHOOK_FORWARD_ROUTES", "orders/create", "expected key=value"),
     ("WEBHOOK_FORWARD_ROUTES", "orders/create=ftp://x", "http:// or https://"),
     ("HEALTH_TARGETS", "app=localhost:3000", "http:// or https://"),
     ("ALERT_TOPIC_GAPS", "orders/create=soon", "whole number"),
     ("ALERT_TOPIC_GAPS", "orders/create=0", "outside 1..525600")],
)
def test_it_refuses_a_bad_pair_list_entry(monkeypatch, name, value, message):
    with pytest.raises(ImproperlyConfigured, match=f"^{name} entry .*{message}"):
        load(monkeypatch, **{name: value})


def test_it_parses_every_pair_list_the_same_way(monkeypatch):
    loaded = load(
        monkeypatch,
        WEBHOOK_FORWARD_ROUTES=" orders/create = http://127.0.0.1:9/o ,",
        HEALTH_TARGETS="app=http://127.0.0.1:3000/health,http://127.0.0.1:4000/up",
        ALERT_TOPIC_GAPS="orders/create=60",
    )
    assert loaded["WEBHOOK_FORWARD_ROUTES"] == {"orders/create": "http://127.0.0.1:9/o"}
    assert loaded["HEALTH_TARGETS"] == {"app": "http://127.0.0.1:3000/health", "127.0.0.1:4000": "http://127.0.0.1:4000/up"}
    assert loaded["ALERT_TOPIC_GAPS"] == {"orders/create": 60}


@pytest.mark.parametrize(("name", "value"), [("WEBHOOK_RETRY_DELAYS", [0.3, -1.0]), ("WEBHOOK_LEASE_SECONDS", 0),
                                             ("RETENTION_PAUSE_SECONDS", float("nan")), ("FORWARD_TIMEOUT", "5")])
def test_it_fails_the_system_check_for_an_override_out_of_range(settings, name, value):
    setattr(settings, name, value)
    problems = check_numeric_settings()
    assert [p.id for p in problems] == ["timedify_ops.E010"]
    assert problems[0].msg.startswith(f"{name}:")


def test_it_passes_the_system_check_with_the_defaults():
    assert check_numeric_settings() == []


def test_it_stops_manage_py_with_the_variable_named():
    env = {**os.environ, "DEBUG": "1", "WEBHOOK_RETRY_DELAYS": "-1"}
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "WEBHOOK_RETRY_DELAYS='-1': -1.0 is outside 0..3600" in done.stderr
