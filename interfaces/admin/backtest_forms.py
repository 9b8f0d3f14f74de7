"""Admin forms for starting work; validation mirrors the API's (strategy parameters, risk limits, periods)."""

from __future__ import annotations

from django import forms

from backtests.engine import RiskLimits
from backtests.models import BacktestConfig, default_risk_limits
from core.timeutil import check_period
from marketdata.symbols import SYMBOL_CHOICES
from marketdata.timeframes import TIMEFRAME_CHOICES
from strategies.registry import STRATEGIES, validated_parameters


def strategy_choices() -> list[tuple[str, str]]:
    return [(name, getattr(cls, "label", "") or name) for name, cls in sorted(STRATEGIES.items())]


def clean_period(form: forms.Form, cleaned: dict) -> None:
    """The period rule (:func:`core.timeutil.check_period`) as a form error on ``end``."""
    try:
        check_period(cleaned.get("start"), cleaned.get("end"))
    except ValueError as exc:
        form.add_error("end", str(exc))


class BacktestConfigForm(forms.ModelForm):
    strategy = forms.ChoiceField(choices=strategy_choices)
    symbols = forms.MultipleChoiceField(choices=SYMBOL_CHOICES, required=False,
                                        help_text="Empty: the strategy's own universe.")

    class Meta:
        model = BacktestConfig
        fields = ["name", "strategy", "symbols", "timeframe", "start", "end", "parameters", "initial_capital",
                  "fee_rate", "slippage_rate", "latency_ms", "risk_limits", "seed"]

    def clean(self):
        cleaned = super().clean()
        clean_period(self, cleaned)
        strategy_class = STRATEGIES.get(cleaned.get("strategy") or "")
        if strategy_class is not None:
            try:
                cleaned["parameters"] = validated_parameters(strategy_class, cleaned.get("parameters") or {})
            except ValueError as exc:
                self.add_error("parameters", str(exc))
            if not cleaned.get("symbols"):
                cleaned["symbols"] = list(strategy_class.universe)
        limits = {**default_risk_limits(), **(cleaned.get("risk_limits") or {})}
        try:
            RiskLimits.from_dict(limits)
            cleaned["risk_limits"] = limits
        except (TypeError, ValueError) as exc:
            self.add_error("risk_limits", str(exc))
        capital = cleaned.get("initial_capital")
        if capital is not None and capital <= 0:
            self.add_error("initial_capital", "initial capital must be positive.")
        return cleaned


class IngestionForm(forms.Form):
    symbols = forms.MultipleChoiceField(choices=SYMBOL_CHOICES)
    timeframe = forms.ChoiceField(choices=TIMEFRAME_CHOICES, initial="1h")
    start = forms.DateTimeField(help_text="UTC, e.g. 2023-01-01 00:00")
    end = forms.DateTimeField(help_text="UTC")
    source = forms.ChoiceField(choices=[("", "automatic"), ("binance", "Binance"), ("coingecko", "CoinGecko")],
                               required=False)

    def clean(self):
        cleaned = super().clean()
        clean_period(self, cleaned)
        return cleaned
