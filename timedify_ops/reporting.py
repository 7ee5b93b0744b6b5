"""Error reports (500 e-mails, DEBUG pages) without webhook signatures or credentials.

Django's default filter hides settings and request headers whose names match
API|TOKEN|KEY|SECRET|PASS|SIGNATURE. A Shopify signature arrives as
HTTP_X_SHOPIFY_HMAC_SHA256, which matches none of them; cookies and the Authorization
header do not either. This filter adds them.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HMAC|COOKIE|AUTHORIZATION|CIPHERTEXT|DATABASE_URL|REDIS_URL", flags=re.I
    )
