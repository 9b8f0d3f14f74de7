"""The database cache table (``settings.CACHES`` uses it when no REDIS_URL is set), created by ``migrate`` so a
new installation needs no extra ``createcachetable`` step."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS platform_cache")


class Migration(migrations.Migration):
    dependencies: list = []
    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
