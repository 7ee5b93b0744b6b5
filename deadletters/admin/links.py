"""What the deadletters app adds to the webhooks app's pages: an event's dead letters, a
shop's open dead letters. Registered here so that webhooks never imports deadletters."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from deadletters.models import DeadLetter
from webhooks.admin.kit import COUNT_CAP, add_related_links, count_of, status_badge
from webhooks.models import Shop, WebhookEvent


def event_dead_letters(event: WebhookEvent) -> list[SafeString]:
    rows = DeadLetter.objects.filter(event=event).order_by("-created_at").values_list("pk", "status")
    return [
        format_html('<a href="{}">Dead letter {}</a> {}', reverse("admin:deadletters_deadletter_change", args=[pk]), pk,
                    status_badge(status))
        for pk, status in rows
    ]


def shop_dead_letters(shop: Shop) -> list[SafeString]:
    # The shop index (domain, status) answers this count; capped like the list's own.
    n = DeadLetter.objects.filter(shop_domain=shop.domain).unresolved()[: COUNT_CAP + 1].count()
    url = reverse("admin:deadletters_deadletter_changelist") + "?" + urlencode({"shop_domain": shop.domain, "status": "open"})
    shown = f"{COUNT_CAP}+ dead letters" if n > COUNT_CAP else count_of(n, "dead letter")
    return [format_html('<a href="{}" id="shop-dead-letters">Open dead letters: {}</a>', url, shown)]


add_related_links(WebhookEvent, event_dead_letters)
add_related_links(Shop, shop_dead_letters)
