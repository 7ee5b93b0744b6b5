"""A data export's download header is built by Django's own filename handling: whatever
the customer id and shop hold (quotes, CR/LF, unicode), one safe Content-Disposition."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhooks.models import CustomerDataExport

pieces = st.lists(st.sampled_from([*'a1."\\;= ', "\r\n", "\n", "é", "\u2028", "X-Injected: 1", "/", ".."]), max_size=8).map("".join)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customer_id=pieces, shop=pieces)
def test_it_sends_one_safe_content_disposition_for_any_ids(admin_client, customer_id, shop):
    export = CustomerDataExport.objects.create(shop_domain=shop, customer_id=customer_id, document={"x": 1})
    response = admin_client.get(f"/admin/webhooks/customerdataexport/{export.pk}/download/")
    assert response.status_code == 200
    header = response["Content-Disposition"]
    # Plain ASCII is quoted; anything else is RFC 5987 percent-encoding. Either way one
    # line, and a name of letters, digits, dots and dashes.
    match = re.fullmatch(r'attachment; (?:filename="([^"]*)"|filename\*=utf-8\'\'([\w.%-]*))', header)
    assert match, header
    name = match[1] if match[1] is not None else unquote(match[2])
    assert re.fullmatch(rf"customer-[\w.-]*{export.pk}\.json", name), name
    assert "X-Injected" not in response.headers
