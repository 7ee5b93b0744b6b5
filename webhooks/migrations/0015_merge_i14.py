# Merge of the payload revisions with the other branches.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0013_i14_payload_revision'),
        ('webhooks', '0014_merge_i12a_i17'),
    ]

    operations = [
    ]
