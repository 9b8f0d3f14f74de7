"""django-q2 task entry points: one line each, taking ids."""

from analytics import services


def walkforward_execute_task(run_id: int) -> dict:
    return services.walkforward_execute(run_id)


def walkforward_period_task(run_id: int, index: int) -> dict:
    return services.walkforward_period_execute(run_id, index)


def walkforward_finish_task(run_id: int) -> dict:
    return services.walkforward_finish(run_id)
