# Merge of two attempt indexes built on parallel branches.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0009_i17_failed_attempts_index'),
        ('webhooks', '0011_i16_attempt_started_index'),
    ]

    operations = [
    ]
