"""A small Shopify Admin API client: the shop's offline token, the retry budget of
WEBHOOK_RETRY_DELAYS, 429 Retry-After honoured, 401 recorded as an invalid token.

    client = AdminAPIClient(shop)
    data = client.get("shop.json")
    data = client.post("graphql.json", {"query": "{ shop { name } }"})

The token is sent in X-Shopify-Access-Token and appears in no error message or log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from django.conf import settings

from webhooks.models import Shop

logger = logging.getLogger(__name__)

RETRYABLE = {429, 500, 502, 503, 504}


class AdminAPIError(Exception):
    """The call failed after the retry budget, or with an answer retrying cannot fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenInvalid(AdminAPIError):
    """Shopify refused the offline token (401); recorded on the shop (token_invalid_at)."""


class AdminAPIClient:
    def __init__(self, shop: Shop, *, session: requests.Session | None = None) -> None:
        self.shop = shop
        self.session = session or requests.Session()

    def url(self, path: str) -> str:
        base = settings.SHOPIFY_ADMIN_API_BASE.format(domain=self.shop.domain, version=settings.SHOPIFY_ADMIN_API_VERSION)
        return f"{base.rstrip('/')}/{path.lstrip('/')}"

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self.shop.offline_token()
        if not token:
            raise TokenInvalid(f"{self.shop.domain} has no offline token")
        delays: list[float] = list(settings.WEBHOOK_RETRY_DELAYS)
        headers = {"X-Shopify-Access-Token": token, "Accept": "application/json"}
        timeout = (settings.FORWARD_CONNECT_TIMEOUT, settings.FORWARD_TIMEOUT)
        url = self.url(path)
        problem = ""
        for attempt in range(len(delays) + 1):
            wait = delays[attempt] if attempt < len(delays) else None
            try:
                response = self.session.request(method, url, headers=headers, timeout=timeout, **kwargs)
            except requests.RequestException as exc:
                problem, status = f"{type(exc).__name__} calling {method} {path}", None
            else:
                status = response.status_code
                if status == 401:
                    self.shop.mark_token_invalid()
                    raise TokenInvalid(f"{self.shop.domain}: Shopify refused the offline token (401)", 401)
                if 200 <= status < 300:
                    return response.json() if response.content else None
                if status not in RETRYABLE:
                    raise AdminAPIError(f"{method} {path}: HTTP {status}: {response.text[:200]}", status)
                problem = f"{method} {path}: HTTP {status}"
                if status == 429 and wait is not None:
                    wait = max(wait, _retry_after(response))
                    if wait > settings.SHOPIFY_ADMIN_API_MAX_WAIT:
                        raise AdminAPIError(f"{problem}: Retry-After {wait:g} s is beyond our budget", status)
            if wait is None:
                break
            logger.info("admin api %s for %s: retry %d in %.2f s", problem, self.shop.domain, attempt + 1, wait)
            time.sleep(wait)
        raise AdminAPIError(f"{problem} (gave up after {len(delays) + 1} attempts)", status)


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0
