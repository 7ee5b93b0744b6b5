"""Every numeric argument of every management command: a negative, absurd or non-numeric
value is refused naming the argument, the command changes nothing, and from a shell it
exits 2. What 0 means is in the help, and it means that."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from django_q.models import OrmQ
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadletters.models import DeadLetter
from timedify_ops.models import JobRun
from webhooks.models import WebhookEvent
from webhooks.subject_index import EventSubject

ROOT = Path(__file__).resolve().parents[1]

# (command, arguments before the value, the argument's name in the error, lowest, highest, whole)
NUMERIC = [
    ("replay_deadletters", ["--list", "--limit"], "--limit", 1, 100_000, True),
    ("replay_deadletters", ["--cleanup", "--older-than-days"], "--older-than-days", 0, 36_500, True),
    ("replay_deadletters", [], "ID", 1, 2**63 - 1, True),
    ("replay_deadletters", ["--all", "--rate"], "--rate", 0, 10_000, False),
    ("replay_deadletters", ["--all", "--canary"], "--canary", 0, 1_000_000, True),
    ("retention_cleanup", [], "days", 1, 36_500, True),
    ("retention_cleanup", ["--batch-size"], "--batch-size", 1, 100_000, True),
    ("retention_cleanup", ["--pause"], "--pause", 0, 60, False),
    ("seed_demo", ["--count"], "--count", 1, 100_000, True),
    ("seed_demo", ["--days"], "--days", 1, 365, True),
    ("logs_watch", [], "seconds", 0, 86_400, False),
    ("logs_watch", ["0", "--interval"], "--interval", 0.05, 60, False),
    ("logs_watch", ["0", "--backlog"], "--backlog", 0, 10_000, True),
    ("synthetic_webhook_test", ["--wait"], "--wait", 0, 600, False),
    ("sweep_events", ["--batch"], "--batch", 1, 100_000, True),
    ("index_subjects", ["--batch"], "--batch", 1, 100_000, True),
]
OURS = {name for name, app in get_commands().items() if app in ("webhooks", "deadletters", "timedify_ops")}


def state() -> tuple[int, ...]:
    return (WebhookEvent.objects.count(), DeadLetter.objects.count(), JobRun.objects.count(), OrmQ.objects.count(),
            EventSubject.objects.count())


@st.composite
def bad_values(draw: st.DrawFn, low: float, high: float, whole: bool) -> str:
    outside = st.one_of(
        st.integers(max_value=int(low) - 1 if float(low).is_integer() else -1).map(str),
        st.integers(min_value=int(high) + 1, max_value=10**40).map(str),
        st.sampled_from(["nan", "inf", "-inf", "1e999", "ten", "", " ", "0x10", "1,5", "٣٣٣٣٣٣٣٣٣٣٣٣"]),
    )
    fractions = st.sampled_from(["2.5", "1e3"]) if whole else st.nothing()
    return draw(outside | fractions)


def test_it_covers_every_numeric_argument_of_every_command():
    with_numbers = set()
    for name in OURS:
        parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
        for action in parser._actions:
            if action.type not in (None, str) and action.dest not in ("verbosity",):
                with_numbers.add(name)
    assert with_numbers == {command for command, *_ in NUMERIC}


@pytest.mark.django_db
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_it_refuses_a_bad_number_naming_the_argument_and_changes_nothing(data):
    command, before, name, low, high, whole = data.draw(st.sampled_from(NUMERIC))
    value = data.draw(bad_values(low, high, whole))
    seen = state()
    with pytest.raises(CommandError) as info:
        call_command(command, *before, value, stdout=StringIO(), stderr=StringIO())
    message = str(info.value)
    if before and before[-1].startswith("--") or not value.startswith("-") or value.lstrip("-").isdigit():
        assert f"argument {name}: " in message
    else:  # argparse reads "-inf" where a positional is expected as an unknown option
        assert f"unrecognized arguments: {value}" in message
    assert state() == seen


@pytest.mark.parametrize(("command", "arguments", "name"), [
    ("replay_deadletters", ["--cleanup", "--older-than-days", "-1"], "--older-than-days"),
    ("retention_cleanup", ["99999999999"], "days"),
    ("sweep_events", ["--batch", "-1"], "--batch"),
])
def test_it_exits_2_from_a_shell_with_the_argument_named(command, arguments, name):
    env = {**os.environ, "DEBUG": "1"}
    done = subprocess.run([sys.executable, "manage.py", command, *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"error: argument {name}: " in done.stderr


@pytest.mark.parametrize(("command", "argument"), [
    ("replay_deadletters", "--older-than-days"), ("retention_cleanup", "--pause"), ("logs_watch", "--backlog"),
    ("logs_watch", "seconds"), ("synthetic_webhook_test", "--wait"),
])
def test_it_says_in_the_help_what_0_means(command, argument):
    parser = load_command_class(get_commands()[command], command).create_parser("manage.py", command)
    (action,) = [a for a in parser._actions if argument in (*a.option_strings, a.dest)]
    assert "0:" in (action.help or "")
