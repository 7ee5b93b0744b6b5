# Merge of the stored-header redaction with the retry-budget and subject-index migrations.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0007_i12b_redact_stored_headers'),
        ('webhooks', '0008_merge_i12a_i17'),
    ]

    operations = [
    ]
