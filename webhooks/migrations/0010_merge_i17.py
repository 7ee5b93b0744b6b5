# Merge of the compliance-request tracker with the intake and processing migrations.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0008_i17_compliance_requests'),
        ('webhooks', '0009_merge_i12b'),
    ]

    operations = [
    ]
