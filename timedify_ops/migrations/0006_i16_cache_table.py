"""Create the database cache's table as part of `migrate`.

The worker clusters store their heartbeat in the default cache; on the database cache
(no REDIS_URL) its table used to be made only by `createcachetable`, so a console deployed
with `migrate` alone saw "no worker cluster is running" while one ran. `createcachetable`
does nothing for a table that exists or a cache that is not a database cache, so this is
safe to run anywhere and again. Reversing leaves the table (other processes may use it).
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("timedify_ops", "0005_i16_delivery_totals")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop, elidable=False)]
