"""``research`` off the one process: the strategies side by side in forked processes, and ``--cluster``, the
walk-forwards fanned out over two qcluster processes (two "hosts") sharing PostgreSQL, each period task loading
only its window; both give the one-process run's result."""

from __future__ import annotations

import pytest
from django_q.models import Task

from analytics.models import WalkForwardPeriod, WalkForwardRun
from analytics.research import ResearchOptions, research_run
from marketdata.sample import sample_load
from tests.cluster import running_clusters
from tests.markers import committed_db

pytestmark = [committed_db, pytest.mark.postgres, pytest.mark.slow]

VOLATILE = {"config_id", "evaluations", "configurations"}  # the second run is a counted replay of the first


def _options(tmp_path, name: str, **extra) -> ResearchOptions:
    return ResearchOptions(strategies=["lending_value", "curve_wars"], train_months=4, test_months=2, max_trials=3,
                           mc_iterations=50, permutations=5, report_dir=str(tmp_path / name), **extra)


def _comparable(result: dict) -> dict:
    return {"final_parameters": result["final_parameters"],
            "holdout": {k: v for k, v in result["holdout"].items() if k not in VOLATILE},
            "periods": [{k: p[k] for k in ("index", "train_start", "test_end", "parameters", "train_metrics",
                                           "test_metrics")} for p in result["periods"]],
            "pbo": result["summary"]["edge"]["pbo"], "permutation": result["summary"]["edge"]["permutation"]}


def test_research_on_two_cluster_hosts_equals_the_local_run(requires_postgres, tmp_path, monkeypatch):
    from django_q.conf import Conf

    sample_load(symbols=["AAVE", "COMP", "MKR", "CRV", "CVX", "FXS", "BTC", "ETH"], timeframes=["1h"])
    local = research_run(_options(tmp_path, "local"))
    monkeypatch.setattr(Conf, "SYNC", False)  # the suite runs tasks inline; here they go to the clusters
    with running_clusters(2):
        fanned = research_run(_options(tmp_path, "cluster", cluster=True))
    for name in ("lending_value", "curve_wars"):
        assert fanned["strategies"][name]["status"] == "succeeded", fanned["strategies"][name].get("error")
        assert _comparable(fanned["strategies"][name]) == _comparable(local["strategies"][name])
        run = WalkForwardRun.objects.get(pk=fanned["strategies"][name]["walkforward_id"])
        assert run.summary["fan_out"] is True
    periods = Task.objects.filter(name__contains="-period-")
    fanned_runs = {fanned["strategies"][n]["walkforward_id"] for n in ("lending_value", "curve_wars")}
    assert periods.count() == WalkForwardPeriod.objects.filter(run__in=fanned_runs).count() >= 6
    assert all(task.success for task in periods)
    workers = {task.result["worker"] for task in periods}
    assert len(workers) == 2, workers  # both hosts took periods
    for task in periods:  # each period task loaded its own window, not the strategy's whole range
        run = WalkForwardRun.objects.get(pk=task.args[1])
        period = WalkForwardPeriod.objects.get(run=run, index=task.args[3])
        assert task.result["loaded"] == [period.train_start.isoformat(), period.test_end.isoformat()]


def test_strategies_side_by_side_equal_one_process(requires_postgres, tmp_path, monkeypatch):
    """RESEARCH_WORKERS=2: each strategy in its own forked process with its own connection (and its trials over
    the cores): the same result as one process, one strategy after the other."""
    sample_load(symbols=["AAVE", "COMP", "MKR", "CRV", "CVX", "FXS", "BTC", "ETH"], timeframes=["1h"])
    monkeypatch.setenv("RESEARCH_WORKERS", "1")
    alone = research_run(_options(tmp_path, "alone"))
    monkeypatch.setenv("RESEARCH_WORKERS", "2")
    seen: list[str] = []
    together = research_run(_options(tmp_path, "together"), progress=seen.append)
    for name in ("lending_value", "curve_wars"):
        assert together["strategies"][name]["status"] == "succeeded", together["strategies"][name].get("error")
        assert _comparable(together["strategies"][name]) == _comparable(alone["strategies"][name])
        assert together["timings"][f"strategy {name}"] > 0
    # the children's progress reached the parent's listener
    assert any("lending_value: walk-forward period" in m for m in seen)
    assert any("curve_wars: walk-forward period" in m for m in seen)
