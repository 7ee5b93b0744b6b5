"""replay_deadletters: list, replay by id or all, dry run, cleanup, exit codes."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from deadletters.models import DeadLetter
from deadletters.tests.factories import make_dead_letters
from timedify_ops.models import JobRun

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("replay_deadletters", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_it_lists_open_dead_letters_as_parseable_lines():
    one, two = make_dead_letters(2, shop="list-shop.myshopify.com")
    two.ignore(None, "test shop")
    code, out = run("--list")
    lines = [line.split("\t") for line in out.splitlines() if not line.startswith("#")]
    assert code == 0
    assert lines[0] == ["id", "age_seconds", "topic", "shop", "error"]
    assert [row[0] for row in lines[1:]] == [str(one.pk)]
    assert lines[1][3] == "list-shop.myshopify.com" and lines[1][4].startswith("RuntimeError: upstream refused")
    assert out.splitlines()[-1] == "# 1 open dead letter(s)"


def test_it_replays_given_ids_and_exits_0_when_all_succeed(flaky_handler):
    one, two = make_dead_letters(2)
    flaky_handler.fail = False
    code, out = run(str(one.pk), str(two.pk))
    assert code == 0
    assert f"{one.pk}\tok" in out and "2 ok, 0 failed" in out
    assert set(DeadLetter.objects.filter(pk__in=[one.pk, two.pk]).values_list("status", flat=True)) == {"resolved"}
    assert one.replays.get().source == "command"


def test_it_exits_1_when_a_replay_fails(flaky_handler):
    ok, bad = make_dead_letters(2)
    flaky_handler.fail = False
    flaky_handler.fail_orders = {bad.event.payload["id"]}
    code, out = run("--all")
    assert code == 1
    assert "1 ok, 1 failed" in out
    assert DeadLetter.objects.get(pk=bad.pk).status == "open"
    assert DeadLetter.objects.get(pk=ok.pk).status == "resolved"


def test_it_dry_runs_without_changing_anything(flaky_handler):
    (dl,) = make_dead_letters()
    code, out = run("--all", "--dry-run")
    assert code == 1 and "dry-ran 1: 0 ok, 1 failed" in out
    assert DeadLetter.objects.get(pk=dl.pk).status == "open"
    assert dl.replays.get().dry_run


def test_it_exits_2_for_an_unknown_id_or_no_mode():
    with pytest.raises(CommandError) as unknown:
        call_command("replay_deadletters", "999999", stdout=StringIO())
    assert unknown.value.returncode == 2
    with pytest.raises(CommandError) as nothing:
        call_command("replay_deadletters", stdout=StringIO())
    assert nothing.value.returncode == 2


def test_it_cleans_up_old_resolved_ones_and_counts_on_dry_run():
    old, fresh = make_dead_letters(2)
    old.resolve(None, "done")
    DeadLetter.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=10))
    code, out = run("--cleanup", "--older-than-days", "7", "--dry-run")
    assert code == 0 and "would delete 1" in out and DeadLetter.objects.filter(pk=old.pk).exists()
    code, out = run("--cleanup", "--older-than-days", "7")
    assert "deleted 1" in out
    assert not DeadLetter.objects.filter(pk=old.pk).exists() and DeadLetter.objects.filter(pk=fresh.pk).exists()


def test_it_cleans_up_through_the_job_runner_and_the_run_shows_in_the_admin(admin_client):
    (old,) = make_dead_letters(1)
    old.resolve(None, "done")
    DeadLetter.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=10))
    code, out = run("--cleanup", "--older-than-days", "7")
    job_run = JobRun.objects.get(task="deadletter_cleanup")
    assert (code, job_run.trigger, job_run.status) == (0, "command", "ok")
    assert (job_run.details["days"], job_run.details["deleted"], job_run.details["dry_run"]) == (7, 1, False)
    assert "deadletter_cleanup ok in" in out and f"(run {job_run.pk})" in out
    listing = admin_client.get("/admin/timedify_ops/jobrun/?task=deadletter_cleanup&trigger__exact=command")
    assert list(listing.context["cl"].result_list) == [job_run]


@pytest.mark.django_db(transaction=True)  # the failed DELETE must not abort a test transaction
def test_it_exits_1_when_the_clean_up_job_fails():
    (dead_letter,) = make_dead_letters(1)
    dead_letter.resolve(None, "done")
    with connection.cursor() as cursor:  # the table is gone: the job's DELETE fails
        cursor.execute("ALTER TABLE deadletters_deadletter RENAME TO deadletters_deadletter_away")
    try:
        code, out = run("--cleanup", "--older-than-days", "0")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE deadletters_deadletter_away RENAME TO deadletters_deadletter")
    assert code == 1 and "deadletter_cleanup failed" in out
    assert JobRun.objects.get(task="deadletter_cleanup").status == "failed"


def batches(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("replay_batches", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_it_replays_all_as_a_batch_at_a_rate_and_exits_3_when_the_canary_fails(flaky_handler, settings):
    from deadletters.batches import ReplayBatch

    settings.DEADLETTER_BATCH_FAILURE_RATIO = 0
    dead_letters = make_dead_letters(4)
    flaky_handler.fail = False
    flaky_handler.fail_orders = {dead_letters[0].event.payload["id"]}
    code, out = run("--all", "--rate", "50", "--canary", "2")
    batch = ReplayBatch.objects.get()
    assert code == 3 and (batch.status, batch.done, batch.rate, batch.canary, batch.origin) == ("paused", 2, 50, 2, "command")
    assert f"replay_batches resume {batch.pk}" in out
    assert DeadLetter.objects.filter(pk__in=[d.pk for d in dead_letters[2:]], status="open").count() == 2

    code, out = batches("list", "--active")
    assert code == 0 and out.splitlines()[1].split("\t")[:4] == [str(batch.pk), "paused", "2", "4"]
    assert batches("resume", str(batch.pk))[0] == 0
    assert batches("pause", str(batch.pk), "--reason", "wait for the fix")[0] == 0  # queued: paused at once
    batch.refresh_from_db()
    assert batch.pause_reason == "wait for the fix"
    code, out = batches("show", str(batch.pk))
    assert code == 0 and "paused because\twait for the fix" in out and "the command line\tpaused" in out
    assert batches("cancel", str(batch.pk))[0] == 0
    assert batches("resume", str(batch.pk))[0] == 1  # cancelled: nothing to resume
    assert DeadLetter.objects.filter(pk__in=[d.pk for d in dead_letters[2:]], status="open").count() == 2


def test_it_refuses_a_bad_rate_an_unknown_destination_or_batch_with_exit_2():
    make_dead_letters(1)
    with pytest.raises(CommandError) as refused:
        call_command("replay_deadletters", "--all", "--destination", "nowhere", stdout=StringIO())
    assert refused.value.returncode == 2
    # Argparse errors (exit 2 from a shell) name the argument. replay_batches' numbers sit
    # in subcommands, which tests/test_command_arguments.py does not see: checked here.
    for command, args, error in (
        ("replay_deadletters", ("--all", "--canary", "-2"), "--canary: -2 is outside"),
        ("replay_deadletters", ("--all", "--rate", "-1"), "--rate: '-1' is outside"),
        ("replay_deadletters", ("--all", "--rate", "nan"), "--rate: 'nan' is outside"),
        ("replay_batches", ("pause", "0"), "argument id: 0 is outside"),
        ("replay_batches", ("resume", "٣"), "argument id: expected a whole number"),
        ("replay_batches", ("list", "--limit", "0"), "argument --limit: 0 is outside"),
    ):
        with pytest.raises(CommandError, match=error):
            call_command(command, *args, stdout=StringIO())
    with pytest.raises(CommandError) as missing:
        call_command("replay_batches", "pause", "999999", stdout=StringIO())
    assert missing.value.returncode == 2
    assert DeadLetter.objects.get().status == "open"


def test_it_deletes_every_resolved_dead_letter_with_older_than_0_days():
    done, recent, still_open = make_dead_letters(3)
    done.resolve(None, "fixed")
    recent.resolve(None, "fixed")
    DeadLetter.objects.filter(pk=done.pk).update(updated_at=timezone.now() - timedelta(days=3))
    out = StringIO()
    code, out = run("--cleanup", "--older-than-days", "0")
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {still_open.pk}
    assert "deleted 2" in out


def test_it_keeps_what_older_than_30_days_keeps(settings):
    settings.DEADLETTER_RETENTION_DAYS = 30
    (closed,) = make_dead_letters(1)
    closed.resolve(None, "fixed")
    run("--cleanup")
    assert DeadLetter.objects.filter(pk=closed.pk).exists()


def test_it_lists_stored_text_inert_one_row_per_line():
    (dead_letter,) = make_dead_letters(1)
    DeadLetter.objects.filter(pk=dead_letter.pk).update(topic="a\tb\x1b[2Jc", error_message="line\nnext\x07")
    code, out = run("--list")
    (row,) = [line for line in out.splitlines() if line.startswith(f"{dead_letter.pk}\t")]
    assert row.split("\t")[2] == "a b\\x1b[2Jc"
    assert "\x1b" not in out and "\x07" not in out
