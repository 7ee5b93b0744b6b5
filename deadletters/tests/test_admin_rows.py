"""Every admin list's rows, written by webhooks.admin.rows, are the cells Django's own
admin writes (the same characters), on rows with text that needs escaping, links,
badges, dates, empty values and action checkboxes."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags import admin_list
from django.urls import reverse
from django.utils import timezone

from deadletters.batches import ReplayBatch
from deadletters.tests.factories import make_dead_letters
from timedify_ops import jobs
from timedify_ops.models import AlertState, JobRun
from timedify_ops.schedules import setup_schedules
from webhooks.admin import rows
from webhooks.models import ForwardDestination, Shop, TopicBreaker, TopicRoute


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "o=1&q=x"])  # the links keep the list's filters
def test_every_list_writes_the_rows_djangos_admin_writes(admin_user, rf, query):
    dead = make_dead_letters(2, shop="rows-&-<shop>.myshopify.com")
    ReplayBatch.start([d.pk for d in dead], admin_user, "<b>replay</b> & co", enqueue=False)
    jobs.execute("sweeper", trigger="command")
    JobRun.objects.create(task="health_check", status="failed", summary="<script>x</script>", duration_ms=1234.5)
    destination = ForwardDestination.objects.create(name="<app>", url="https://app.example.com/hooks?a=1&b=2",
                                                    opened_at=timezone.now(), last_error="boom & <bust>")
    TopicRoute.objects.create(topic="orders/create", destination=destination)
    TopicBreaker.objects.create(topic="orders/<paid>", state="open", paused=True)
    Shop.objects.create(domain="rows-shop.myshopify.com", installed=False)
    AlertState.objects.create(level=2, reasons=["dead letters > 10"])
    setup_schedules()
    compared = 0
    for model, model_admin in admin.site._registry.items():
        request = rf.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") + f"?{query}")
        request.user = admin_user
        cl = model_admin.get_changelist_instance(request)
        for result in cl.result_list:
            ours = list(rows.items_for_result(cl, result, None))
            assert ours == list(admin_list.items_for_result(cl, result, None)), model
            compared += len(ours)
    assert compared > (100 if not query else 20)
