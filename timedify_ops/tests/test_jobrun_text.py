"""A job run stores whatever its job reports or raises: NUL, lone surrogates and any
length are made storable, so the run is recorded and its page opens."""

from __future__ import annotations

import pytest
from django.urls import reverse

from timedify_ops import jobs
from timedify_ops.models import JobRun, JobStatus
from webhooks import textsafe

UGLY = "a\x00b\ud800" * 30_000


def _raises(**kwargs: object) -> jobs.Outcome:
    raise RuntimeError(UGLY)


def _reports(**kwargs: object) -> jobs.Outcome:
    return jobs.Outcome("warning", UGLY, {"target\x00": {"error": UGLY[:100], "nested": [["\ud800"]]}})


@pytest.mark.django_db
@pytest.mark.parametrize("func", [_raises, _reports])
def test_it_records_a_run_whatever_text_its_job_gives(monkeypatch, admin_client, func):
    monkeypatch.setitem(jobs.JOBS, "ugly", jobs.Job("ugly", "Ugly text", func, quick=True))
    run = jobs.execute("ugly", trigger="command")
    stored = JobRun.objects.get(pk=run.pk)
    assert stored.status == (JobStatus.FAILED if func is _raises else "warning")
    assert len(stored.summary) == textsafe.limit_of(JobRun, "summary")
    assert "\x00" not in stored.summary + stored.traceback + str(stored.details)
    if func is _reports:
        assert stored.details == {"target\ufffd": {"error": textsafe.clean(UGLY[:100]), "nested": [["\ufffd"]]}}
    assert admin_client.get(reverse("admin:timedify_ops_jobrun_change", args=[run.pk])).status_code == 200
