"""The admin form that starts a full research run (the ``research`` job, what ``manage.py research`` does)."""

from __future__ import annotations

from django import forms

from analytics import holdout
from analytics.research import ResearchOptions
from strategies.registry import RESEARCH_STRATEGIES, STRATEGIES


def _strategy_choices() -> list[tuple[str, str]]:
    return [(name, f"{cls.label or name} ({name})") for name, cls in sorted(STRATEGIES.items())]


class ResearchRunForm(forms.Form):
    defaults = ResearchOptions()
    strategies = forms.MultipleChoiceField(choices=_strategy_choices, widget=forms.CheckboxSelectMultiple,
                                           initial=[cls.name for cls in RESEARCH_STRATEGIES])
    max_trials = forms.IntegerField(min_value=1, max_value=500, initial=defaults.max_trials,
                                    label="Parameter sets tried per optimisation")
    holdout_fraction = forms.FloatField(min_value=holdout.MIN_FRACTION, max_value=holdout.MAX_FRACTION,
                                        initial=defaults.holdout_fraction,
                                        help_text="a strategy already locked accepts only its lock's fraction")
    mc_iterations = forms.IntegerField(min_value=1, max_value=100_000, initial=defaults.mc_iterations,
                                       label="Monte Carlo iterations")
    permutations = forms.IntegerField(min_value=0, max_value=10_000, initial=defaults.permutations,
                                      help_text="bar permutations of the signal test on each holdout (0 skips it)")
    seed = forms.IntegerField(min_value=0, initial=defaults.seed)
    cluster = forms.BooleanField(required=False, initial=False, label="Fan out over the cluster",
                                 help_text="one task per strategy x walk-forward period, shared by every qcluster "
                                           "worker on this database")

    def clean(self):
        cleaned = super().clean()
        fraction = cleaned.get("holdout_fraction")
        for name in cleaned.get("strategies") or []:
            try:
                holdout.refuse_fraction_change(name, fraction)
            except ValueError as exc:
                self.add_error("holdout_fraction", str(exc))
                break
        return cleaned
