"""django-q2 task entry points: one line each, taking ids."""

from analytics import services


def walkforward_execute_task(run_id: int) -> dict:
    return services.walkforward_execute(run_id)
