# Phones in the subject index become their last ten digits (webhooks.subjects.PHONE_DIGITS),
# so that a request naming a phone in one format finds events storing another.

from __future__ import annotations

from typing import Any

from django.db import migrations


def _last_digits(apps: Any, schema_editor: Any) -> None:
    subject = apps.get_model("webhooks", "EventSubject")
    rows = []
    for row in subject.objects.filter(kind="phone").only("pk", "value").iterator(chunk_size=1000):
        digits = "".join(ch for ch in row.value if ch.isdigit())[-10:]
        if digits and digits != row.value:
            row.value = digits
            rows.append(row)
        if len(rows) >= 1000:
            subject.objects.bulk_update(rows, ["value"])
            rows = []
    subject.objects.bulk_update(rows, ["value"])


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0012_merge_i16_i17")]

    operations = [migrations.RunPython(_last_digits, migrations.RunPython.noop)]
