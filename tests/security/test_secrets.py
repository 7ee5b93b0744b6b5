"""Secrets never leave: the HMAC header value, SHOPIFY_API_SECRET, the Stripe secret,
SECRET_KEY and a shop's offline token stay out of rendered admin pages, log lines (plain
and JSON) and error reports."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from django.views.debug import ExceptionReporter

from conftest import SHOPIFY_SECRET, STRIPE_SECRET, database_down, shopify_headers
from tests.security.conftest import client_for
from timedify_ops.jsonlog import JsonFormatter
from webhooks.logcontext import WebhookContextFilter
from webhooks.models import Shop, WebhookEvent
from webhooks.processing import process_event

TOKEN = "shpat_offline_token_never_shown_0123456789"  # noqa: S105
SHOP = "secret-shop.myshopify.com"


def signed_delivery(topic: str = "app/uninstalled", webhook_id: str = "wh-secret") -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": 1, "domain": SHOP}).encode()
    return body, shopify_headers(body, topic=topic, shop=SHOP, webhook_id=webhook_id)


def secrets(hmac_value: str) -> list[str]:
    return [hmac_value, SHOPIFY_SECRET, STRIPE_SECRET, settings.SECRET_KEY, TOKEN]


def rendered(records: list[logging.LogRecord]) -> str:
    plain = logging.Formatter("%(message)s %(webhook_suffix)s")
    context = WebhookContextFilter()
    lines = []
    for record in records:
        context.filter(record)
        lines += [plain.format(record), JsonFormatter().format(record)]
    return "\n".join(lines)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_secrets_out_of_the_logs_of_ingest_and_processing(client, caplog):
    Shop.objects.create(domain=SHOP, installed=True, offline_token_ciphertext=TOKEN)
    body, headers = signed_delivery()
    caplog.set_level(logging.DEBUG)
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers).status_code == 200
    bad = {**headers, "X-Shopify-Hmac-Sha256": "forged" + headers["X-Shopify-Hmac-Sha256"]}
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=bad).status_code == 401
    with database_down():
        other = signed_delivery(webhook_id="wh-secret-503")[1]
        assert client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=other).status_code == 503
    event = WebhookEvent.objects.get(webhook_id="wh-secret")
    process_event(event.pk)
    logs = rendered(caplog.records)
    assert "wh-secret-503" in logs  # the outage was logged, with the webhook id
    for secret in secrets(headers["X-Shopify-Hmac-Sha256"]):
        assert secret not in logs
    assert headers["X-Shopify-Hmac-Sha256"] not in json.dumps(event.headers)


@pytest.mark.django_db
def test_it_keeps_secrets_out_of_every_admin_page(client, roles):
    Shop.objects.create(domain=SHOP, installed=True, offline_token_ciphertext=TOKEN)
    body, headers = signed_delivery()
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json", headers=headers).status_code == 200
    superuser = client_for(roles["superuser"])
    pages = ["/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        first = model._default_manager.first()
        if first is not None:
            try:
                pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))
            except NoReverseMatch:
                pass
    for page in pages:
        response = superuser.get(page)
        assert response.status_code in (200, 302), page
        content = response.content.decode()
        for secret in secrets(headers["X-Shopify-Hmac-Sha256"]):
            assert secret not in content, f"{page} shows a secret"


def report_for(request: HttpRequest) -> ExceptionReporter:
    # Caught here, so the traceback holds this frame (locals: the request) and not the
    # test's own variables.
    try:
        raise RuntimeError("handler blew up")
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info())


def test_it_keeps_secrets_out_of_error_reports(settings):
    settings.SHOPIFY_API_SECRET = SHOPIFY_SECRET
    body, headers = signed_delivery()
    request = RequestFactory().post(
        "/webhooks/shopify/", data=body, content_type="application/json", headers={**headers, "Cookie": "sessionid=s3ss10n"},
    )
    reporter = report_for(request)
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert "handler blew up" in report
        for secret in [*secrets(headers["X-Shopify-Hmac-Sha256"]), "s3ss10n"]:
            assert secret not in report
