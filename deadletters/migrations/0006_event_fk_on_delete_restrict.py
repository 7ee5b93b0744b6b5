"""On PostgreSQL, the dead letter -> event foreign key becomes ON DELETE RESTRICT.

Django creates a PROTECT foreign key as NO ACTION. For every event deleted, a NO ACTION
check runs two queries: it first looks for another event with the same key (NO ACTION
lets a transaction put one back before the check), then for a dead letter. RESTRICT only
looks for the dead letter, once the DELETE statement ends. Retention deletes a million
events with nothing put back, and that first query was about a quarter of its time.
The guarantee is the same or stricter: the database refuses to delete an event that a dead
letter points at. Inserting a dead letter is still checked at commit (DEFERRABLE).
SQLite keeps Django's default constraint.
"""

from django.db import migrations

CONSTRAINT = """
    SELECT conname FROM pg_constraint
    WHERE contype = 'f' AND conrelid = 'deadletters_deadletter'::regclass
      AND confrelid = 'webhooks_webhookevent'::regclass
"""


def _on_delete(action):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CONSTRAINT)
            name = schema_editor.quote_name(cursor.fetchone()[0])
        schema_editor.execute(
            f"ALTER TABLE deadletters_deadletter DROP CONSTRAINT {name}, ADD CONSTRAINT {name} "
            f"FOREIGN KEY (event_id) REFERENCES webhooks_webhookevent (id) {action} DEFERRABLE INITIALLY DEFERRED"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("deadletters", "0005_error_class_index"),
    ]

    operations = [
        migrations.RunPython(_on_delete("ON DELETE RESTRICT"), _on_delete("ON DELETE NO ACTION")),
    ]
