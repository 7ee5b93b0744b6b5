"""The shop's offline token: encrypted at rest, write-only in the admin, dropped on uninstall."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from webhooks import processing
from webhooks.models import EventStatus, Shop
from webhooks.tests.support import store_event
from webhooks.tokens import TokenUnreadable

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


def raw_ciphertext(shop: Shop) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT offline_token_ciphertext FROM webhooks_shop WHERE id = %s", [shop.pk])
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
def test_it_stores_the_token_encrypted_and_reads_it_back(settings):
    settings.TOKEN_ENCRYPTION_KEY = Fernet.generate_key().decode()
    shop = Shop.objects.create(domain="demo-shop.myshopify.com")
    shop.set_offline_token(TOKEN)
    raw = raw_ciphertext(shop)
    assert raw and TOKEN not in raw and "0123456789abcdef" not in raw
    assert Shop.objects.get(pk=shop.pk).offline_token() == TOKEN
    # Another key cannot read it: the column alone is worthless.
    settings.TOKEN_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(TokenUnreadable):
        shop.offline_token()


@pytest.mark.django_db
def test_it_refuses_to_work_without_a_key_in_production(settings):
    settings.TOKEN_ENCRYPTION_KEY = ""
    settings.DEBUG = False
    settings.TESTING = False
    shop = Shop.objects.create(domain="prod-shop.myshopify.com")
    with pytest.raises(ImproperlyConfigured, match="TOKEN_ENCRYPTION_KEY is required"):
        shop.set_offline_token(TOKEN)
    assert "webhooks.E001" in [m.id for m in run_checks()]


@pytest.mark.django_db
def test_it_never_renders_the_token_in_the_admin_and_lets_staff_replace_it(admin_client):
    shop = Shop.objects.create(domain="demo-shop.myshopify.com")
    shop.set_offline_token(TOKEN)
    url = f"/admin/webhooks/shop/{shop.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert TOKEN not in page and shop.offline_token_ciphertext not in page
    assert 'name="new_offline_token"' in page
    response = admin_client.post(
        url, {"domain": shop.domain, "installed": "on", "scopes": "read_orders", "new_offline_token": "shpat_new"}
    )
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.offline_token() == "shpat_new"
    assert TOKEN not in admin_client.get(url).content.decode()
    assert "shpat_new" not in admin_client.get(f"/admin/webhooks/shop/{shop.pk}/history/").content.decode()


@pytest.mark.django_db
def test_it_drops_the_token_when_the_app_is_uninstalled():
    shop = Shop.objects.create(domain="demo-shop.myshopify.com")
    shop.set_offline_token(TOKEN)
    event = store_event("app/uninstalled", {"id": 548380009, "name": "Super Toys", "domain": "demo-shop.myshopify.com"})
    assert processing.process_event(event.pk) == EventStatus.PROCESSED
    shop.refresh_from_db()
    assert not shop.installed and shop.offline_token() is None
