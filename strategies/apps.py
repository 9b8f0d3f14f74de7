from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    name = "strategies"
    verbose_name = "Strategies"

    def ready(self) -> None:
        """Register the strategies of the ``STRATEGIES_DIR`` folder (none when it is unset). A broken strategy
        file stops the start with ``ImproperlyConfigured`` (``manage.py`` prints it as one line): a researcher
        must know, rather than find their strategy silently missing."""
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from strategies.discovery import register_folder

        folder = getattr(settings, "STRATEGIES_DIR", "")
        if not folder:
            return
        try:
            register_folder(folder)
        except ValueError as exc:
            raise ImproperlyConfigured(f"STRATEGIES_DIR: {exc}") from None
