"""One holdout lock per strategy: merge the locks that were keyed on strategy + symbols + timeframe.

A merged lock spans from the earliest holdout start to the latest end of the strategy's locks (the stricter
reading: nothing any of them locked becomes free), sums their evaluations and keeps every history entry,
each marked with a configuration of its dataset and parameters so the merged lock counts as contaminated
when it saw more than one.
"""

import json

from django.db import migrations, models


def merge_locks(apps, schema_editor):
    HoldoutLock = apps.get_model("analytics", "HoldoutLock")
    by_strategy: dict[str, list] = {}
    for lock in HoldoutLock.objects.order_by("created_at", "pk"):
        by_strategy.setdefault(lock.strategy, []).append(lock)
    for locks in by_strategy.values():
        keep = locks[0]
        history = []
        for lock in locks:
            for entry in lock.history:
                legacy = json.dumps([lock.dataset_key, entry.get("parameters")], sort_keys=True, default=str)
                history.append({"kind": "walk-forward", "source": f"lock on {lock.dataset_key}",
                                "configuration": entry.get("configuration") or f"legacy:{legacy}", **entry})
        keep.holdout_start = min(lock.holdout_start for lock in locks)
        keep.holdout_end = max(lock.holdout_end for lock in locks)
        keep.evaluations = sum(lock.evaluations for lock in locks)
        keep.history = sorted(history, key=lambda entry: entry.get("at") or "")
        stamps = [lock.last_evaluated_at for lock in locks if lock.last_evaluated_at]
        keep.last_evaluated_at = max(stamps) if stamps else None
        keep.save()
        HoldoutLock.objects.filter(pk__in=[lock.pk for lock in locks[1:]]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("analytics", "0005_walkforward_lifecycle"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="holdoutlock", name="holdout_unique_strategy_dataset"),
        migrations.RunPython(merge_locks, migrations.RunPython.noop),
        migrations.AddField(
            model_name="holdoutlock", name="fraction",
            field=models.FloatField(default=0.3, help_text="Share of the setting walk-forward's range held out "
                                                           "(every later one must ask for the same)."),
        ),
        migrations.AlterField(model_name="holdoutlock", name="strategy",
                              field=models.CharField(max_length=64, unique=True)),
        migrations.AlterField(
            model_name="holdoutlock", name="dataset_key",
            field=models.CharField(max_length=255, help_text="The dataset of the walk-forward that set the lock: "
                                                             "sorted symbols and timeframe, e.g. 'AAVE,COMP|1h'."),
        ),
        migrations.AlterField(
            model_name="holdoutlock", name="history",
            field=models.JSONField(blank=True, default=list, help_text="One entry per evaluation: when, what, "
                                                                       "configuration, parameters, result."),
        ),
        migrations.AlterModelOptions(name="holdoutlock", options={"ordering": ["strategy"]}),
    ]
