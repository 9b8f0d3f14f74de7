from django.db import migrations
from django.utils.dateparse import parse_datetime


def seed(apps, schema_editor):
    from analytics.stress_events import DEFAULT_STRESS_EVENTS

    StressEvent = apps.get_model("analytics", "StressEvent")
    for event in DEFAULT_STRESS_EVENTS:
        StressEvent.objects.update_or_create(
            slug=event["slug"],
            defaults={
                "name": event["name"],
                "start": parse_datetime(event["start"]),
                "end": parse_datetime(event["end"]),
                "warmup_days": event["warmup_days"],
                "description": event["description"],
            },
        )


def unseed(apps, schema_editor):
    from analytics.stress_events import DEFAULT_STRESS_EVENTS

    StressEvent = apps.get_model("analytics", "StressEvent")
    StressEvent.objects.filter(slug__in=[e["slug"] for e in DEFAULT_STRESS_EVENTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
