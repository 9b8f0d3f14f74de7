"""django-q2 task entry points: one line each, taking ids (the logic lives in the services)."""

from backtests import jobs, services


def job_execute_task(job_id: int) -> dict:
    return jobs.job_execute(job_id)


def backtest_execute_task(config_id: int) -> dict:
    return services.backtest_execute(config_id)
