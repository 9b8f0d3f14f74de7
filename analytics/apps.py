from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Research analytics"

    def ready(self) -> None:
        from analytics import research, services

        services.register_run_kinds()
        services.register_jobs()
        research.register_jobs()
