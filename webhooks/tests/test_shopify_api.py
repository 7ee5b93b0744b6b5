"""The Admin API client against a local server that plays Shopify."""

from __future__ import annotations

import json

import pytest

from webhooks.models import Shop
from webhooks.shopify_api import AdminAPIClient, AdminAPIError, TokenInvalid
from webhooks.tests.support import Reply, endpoint

TOKEN = "shpat_test_token"
SHOP_JSON = json.dumps({"shop": {"id": 548380009, "name": "Super Toys"}}).encode()


@pytest.fixture
def shop(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.05, 0.1, 0.2, 0.4]
    shop = Shop.objects.create(domain="demo-shop.myshopify.com")
    shop.set_offline_token(TOKEN)
    return shop


def client_for(shop: Shop, url: str, settings) -> AdminAPIClient:
    settings.SHOPIFY_ADMIN_API_BASE = url + "/{domain}/admin/api/{version}"
    return AdminAPIClient(shop)


@pytest.mark.django_db
def test_it_calls_the_admin_api_with_the_shop_token(shop, settings):
    with endpoint(Reply(200, body=SHOP_JSON)) as shopify:
        data = client_for(shop, shopify.url, settings).get("shop.json")
    assert data["shop"]["name"] == "Super Toys"
    [seen] = shopify.seen
    assert seen.path == "/demo-shop.myshopify.com/admin/api/2025-10/shop.json"
    assert seen.headers["X-Shopify-Access-Token"] == TOKEN


@pytest.mark.django_db
def test_it_waits_as_long_as_retry_after_says_on_429(shop, settings):
    with endpoint(Reply(429, headers={"Retry-After": "0.5"}), Reply(200, body=SHOP_JSON)) as shopify:
        assert client_for(shop, shopify.url, settings).get("shop.json")["shop"]["id"] == 548380009
    first, second = shopify.seen
    assert 0.5 <= second.at - first.at < 0.8  # Retry-After, not the 50 ms back-off


@pytest.mark.django_db
def test_it_retries_server_errors_with_the_back_off_and_then_gives_up(shop, settings):
    with endpoint(Reply(502)) as shopify:
        with pytest.raises(AdminAPIError, match="HTTP 502 \\(gave up after 5 attempts\\)"):
            client_for(shop, shopify.url, settings).get("shop.json")
    gaps = [b.at - a.at for a, b in zip(shopify.seen, shopify.seen[1:], strict=False)]
    assert len(shopify.seen) == 5
    for gap, delay in zip(gaps, [0.05, 0.1, 0.2, 0.4], strict=True):
        assert delay <= gap < delay + 0.15


@pytest.mark.django_db
def test_it_marks_the_token_invalid_on_401_without_retrying(shop, settings):
    with endpoint(Reply(401, body=b'{"errors":"[API] Invalid API key or access token"}')) as shopify:
        with pytest.raises(TokenInvalid) as info:
            client_for(shop, shopify.url, settings).get("shop.json")
    assert len(shopify.seen) == 1
    assert TOKEN not in str(info.value)
    shop.refresh_from_db()
    assert shop.token_invalid_at is not None
    # Storing a new token clears the mark.
    shop.set_offline_token("shpat_fresh")
    assert Shop.objects.get(pk=shop.pk).token_invalid_at is None


@pytest.mark.django_db
def test_it_does_not_retry_a_client_error(shop, settings):
    with endpoint(Reply(404, body=b'{"errors":"Not Found"}')) as shopify:
        with pytest.raises(AdminAPIError, match="HTTP 404"):
            client_for(shop, shopify.url, settings).get("orders/1.json")
    assert len(shopify.seen) == 1
