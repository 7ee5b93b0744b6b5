"""django-q2's ORM broker queue (django_q_ormq): an index for its dequeue, and on
PostgreSQL autovacuum that keeps up with a queue table.

The pusher asks for `key = <queue> AND lock < now()` with a LIMIT and no index: a
sequential scan that walks every row deleted since the last vacuum before it finds a live
one. At 100 events/s the dead rows pile up by the thousand and each dequeue slowed down
until the cluster fell behind (see docs/benchmarks.md). With the index the scan starts at
the oldest due task; the table is vacuumed after every 1,000 dead rows instead of after a
fifth of the table.
"""

from django.db import migrations

INDEX = "timedify_ormq_key_lock"


def autovacuum_like_a_queue(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE django_q_ormq SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000)"
        )


def autovacuum_by_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE django_q_ormq RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
            "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("timedify_ops", "0003_alertstate"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunSQL(
            f'CREATE INDEX IF NOT EXISTS {INDEX} ON django_q_ormq ("key", "lock")',
            f"DROP INDEX IF EXISTS {INDEX}",
        ),
        migrations.RunPython(autovacuum_like_a_queue, autovacuum_by_default),
    ]
