# Merge of the retry-budget and subject-index migrations, built on parallel branches.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0007_i12a_topic_breaker_retry_budget'),
        ('webhooks', '0007_i17_subject_index'),
    ]

    operations = [
    ]
