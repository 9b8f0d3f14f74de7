"""The operator console: admin registrations of every app's models (imported by admin autodiscovery)."""

from interfaces.admin import analytics, backtests, marketdata  # noqa: F401 - registers the model admins
