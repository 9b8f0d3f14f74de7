from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Research analytics"

    def ready(self) -> None:
        from analytics import holdout, research, services
        from backtests.services import observe_results

        observe_results(holdout.count_plain_backtest)
        services.register_run_kinds()
        services.register_jobs()
        research.register_jobs()
