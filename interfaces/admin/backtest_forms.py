"""Admin forms for starting work; validation mirrors the API's (strategy parameters, risk limits, periods)."""

from __future__ import annotations

from django import forms
from django.utils.html import format_html, format_html_join

from backtests.engine import CostModel, RiskLimits
from backtests.models import BacktestConfig, default_cost_model, default_risk_limits
from core.timeutil import check_period
from marketdata.symbols import SYMBOL_CHOICES
from marketdata.timeframes import TIMEFRAME_CHOICES
from strategies.registry import STRATEGIES, describe_param, validated_parameters


def strategy_choices() -> list[tuple[str, str]]:
    return [(name, getattr(cls, "label", "") or name) for name, cls in sorted(STRATEGIES.items())]


def clean_period(form: forms.Form, cleaned: dict) -> None:
    """The period rule (:func:`core.timeutil.check_period`) as a form error on ``end``."""
    try:
        check_period(cleaned.get("start"), cleaned.get("end"))
    except ValueError as exc:
        form.add_error("end", str(exc))


def _range_text(spec: dict) -> str:
    if spec.get("choices"):
        return f"{spec['default']} (one of {', '.join(map(str, spec['choices']))})"
    step = f" step {spec['step']}" if spec.get("step") is not None else ""
    return f"{spec['default']} ({spec['low']}..{spec['high']}{step})"


def parameters_help() -> str:
    """Every strategy's parameters with their defaults and ranges, and its timeframe and universe."""
    rows = []
    for name, cls in sorted(STRATEGIES.items()):
        described = ", ".join(f"{param} {_range_text(describe_param(spec))}"
                              for param, spec in cls.parameters.items()) or "none"
        rows.append((name, cls.timeframe, ", ".join(cls.universe), described))
    return format_html("A JSON object; leave <code>{{}}</code> for the defaults, give only what you change, e.g. "
                       "<code>{{\"stop_pct\": 0.1}}</code>.<details><summary>parameters of each strategy: "
                       "default (range)</summary><table>{}</table></details>",
                       format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>", rows))


class BacktestConfigForm(forms.ModelForm):
    strategy = forms.ChoiceField(choices=strategy_choices)
    symbols = forms.MultipleChoiceField(choices=SYMBOL_CHOICES, required=False,
                                        help_text="Empty: the strategy's own universe.")
    timeframe = forms.ChoiceField(choices=[("", "the strategy's own"), *TIMEFRAME_CHOICES], required=False,
                                  help_text="Empty: the strategy's own (e.g. 4h for curve_wars, 1d for "
                                            "lending_value).")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "parameters" in self.fields:
            self.fields["parameters"].help_text = parameters_help()
            self.fields["parameters"].required = False

    class Meta:
        model = BacktestConfig
        fields = ["name", "strategy", "symbols", "timeframe", "start", "end", "parameters", "initial_capital",
                  "fee_rate", "slippage_rate", "latency_ms", "risk_limits", "cost_model", "seed"]

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
            if not cleaned.get("timeframe"):
                cleaned["timeframe"] = strategy_class.timeframe
        limits = {**default_risk_limits(), **(cleaned.get("risk_limits") or {})}
        try:
            RiskLimits.from_dict(limits)
            cleaned["risk_limits"] = limits
        except (TypeError, ValueError) as exc:
            self.add_error("risk_limits", str(exc))
        model = {**default_cost_model(), **(cleaned.get("cost_model") or {})}
        try:
            cleaned["cost_model"] = CostModel.from_dict(model).to_dict()
        except (TypeError, ValueError) as exc:
            self.add_error("cost_model", str(exc))
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
