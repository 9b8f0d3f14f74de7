"""Admin form for starting a walk-forward analysis."""

from __future__ import annotations

from django import forms

from analytics import holdout
from analytics.models import WalkForwardRun
from interfaces.admin.backtest_forms import clean_period, strategy_choices
from marketdata.symbols import SYMBOL_CHOICES
from strategies.registry import STRATEGIES


class WalkForwardRunForm(forms.ModelForm):
    strategy = forms.ChoiceField(choices=strategy_choices)
    symbols = forms.MultipleChoiceField(choices=SYMBOL_CHOICES, required=False,
                                        help_text="Empty: the strategy's own universe.")
    settings = forms.JSONField(required=False, initial=dict,
                               help_text='Search and costs, e.g. {"search": "random", "max_trials": 20}.')

    class Meta:
        model = WalkForwardRun
        fields = ["strategy", "symbols", "timeframe", "start", "end", "train_months", "test_months", "objective",
                  "holdout_fraction", "settings", "seed"]

    def clean(self):
        cleaned = super().clean()
        clean_period(self, cleaned)
        strategy_class = STRATEGIES.get(cleaned.get("strategy") or "")
        if strategy_class is not None and not cleaned.get("symbols"):
            cleaned["symbols"] = list(strategy_class.universe)
        fraction = cleaned.get("holdout_fraction")
        if fraction is not None:
            try:
                holdout.refuse_fraction_change(cleaned.get("strategy") or "", holdout.check_fraction(fraction))
            except ValueError as exc:
                self.add_error("holdout_fraction", str(exc))
        cleaned["settings"] = cleaned.get("settings") or {}
        return cleaned
