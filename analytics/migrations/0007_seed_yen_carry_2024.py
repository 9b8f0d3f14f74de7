"""Seed the 2024-08-05 crash (the yen carry-trade unwind) as a stress window; its values are frozen here."""

from django.db import migrations
from django.utils.dateparse import parse_datetime

YEN_CARRY_2024 = {
    "slug": "yen-carry-2024",
    "name": "Yen carry-trade unwind (August 2024)",
    "start": "2024-08-02T00:00:00Z",
    "end": "2024-08-12T00:00:00Z",
    "warmup_days": 6,
    "description": "The Bank of Japan raised rates on 31 July 2024 and the yen carry trade unwound: the Nikkei fell "
                   "12% on 5 August, BTC from 65,000 (1 August) to 49,000 (5 August) before recovering to 61,000 by "
                   "8 August.",
}


def seed(apps, schema_editor):
    StressEvent = apps.get_model("analytics", "StressEvent")
    StressEvent.objects.update_or_create(
        slug=YEN_CARRY_2024["slug"],
        defaults={"name": YEN_CARRY_2024["name"], "start": parse_datetime(YEN_CARRY_2024["start"]),
                  "end": parse_datetime(YEN_CARRY_2024["end"]), "warmup_days": YEN_CARRY_2024["warmup_days"],
                  "description": YEN_CARRY_2024["description"]})


def unseed(apps, schema_editor):
    apps.get_model("analytics", "StressEvent").objects.filter(slug=YEN_CARRY_2024["slug"]).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0006_one_holdout_lock_per_strategy")]
    operations = [migrations.RunPython(seed, unseed)]
