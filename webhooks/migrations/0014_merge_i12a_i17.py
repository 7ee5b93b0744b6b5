# Merge of the replay-claim column and the phone re-normalisation, built on parallel branches.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0013_i12a_claimed_for'),
        ('webhooks', '0013_i17_phone_last_digits'),
    ]

    operations = [
    ]
