from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Research analytics"

    def ready(self) -> None:
        from analytics import capacity_services, holdout, research, services
        from backtests.services import observe_results

        observe_results(holdout.count_plain_backtest)
        check_user_strategies()
        services.register_run_kinds()
        services.register_jobs()
        research.register_jobs()
        capacity_services.register_jobs()


def check_user_strategies() -> None:
    """The strategies of ``STRATEGIES_DIR`` must decide without the future: each is checked on synthetic data
    when the platform starts (a strategy that peeks stops the start with one line naming it)."""
    from django.core.exceptions import ImproperlyConfigured

    from analytics.lookahead import check_strategy_is_causal
    from strategies.registry import STRATEGIES, USER_STRATEGIES

    for name, source in USER_STRATEGIES.items():
        try:
            check_strategy_is_causal(STRATEGIES[name])
        except ValueError as exc:
            raise ImproperlyConfigured(f"STRATEGIES_DIR: {source}: {exc}") from None
