"""Apply the one header redaction policy to events stored before it existed.

The admin used to hide secret-looking headers when it showed them; it now shows what was
stored, so a secret stored in clear by the older intake (X-Shopify-Access-Token) is
redacted here, once. The words are a frozen copy of webhooks.intake.STORED_HEADERS at the
time of this migration: a migration must not change meaning when the code moves on.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

REDACTED_WORDS = ("hmac", "signature", "token", "secret", "authorization", "cookie", "password", "api-key", "apikey")


def redact(apps: Any, schema_editor: Any) -> None:
    event_model = apps.get_model("webhooks", "WebhookEvent")
    last = 0
    # By primary key, a bounded batch at a time: never the whole table in memory.
    while batch := list(event_model.objects.only("pk", "headers").filter(pk__gt=last).order_by("pk")[:2000]):
        last = batch[-1].pk
        changed = []
        for event in batch:
            headers = event.headers if isinstance(event.headers, dict) else {}
            secret = [name for name, value in headers.items()
                      if value != "[redacted]" and any(word in name.lower() for word in REDACTED_WORDS)]
            if secret:
                event.headers = {**headers, **dict.fromkeys(secret, "[redacted]")}
                changed.append(event)
        event_model.objects.bulk_update(changed, ["headers"])


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0006_retention_without_dependent_fk_checks")]

    operations = [
        migrations.RunPython(redact, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="webhookevent",
            name="headers",
            field=models.JSONField(
                blank=True, default=dict,
                help_text="Request headers as stored by the intake's one policy: secrets redacted.",
            ),
        ),
    ]
