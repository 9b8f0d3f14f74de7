from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    name = "backtests"
    verbose_name = "Backtests"

    def ready(self) -> None:
        from backtests import jobs, services

        jobs.register_run_kinds()
        services.register_run_kinds()
