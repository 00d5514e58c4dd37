"""Upload form of a metric benchmark: validates and normalises only."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class MetricBenchmarkForm(forms.Form):
    predictions = forms.FileField(
        label=_("Predictions CSV"),
        help_text=_("Columns stimulus (file name or position), metric, score; optionally split."),
    )
    n_boot = forms.IntegerField(
        label=_("Bootstrap resamples"), min_value=0, max_value=10_000, initial=1000, required=False
    )
    seed = forms.IntegerField(
        label=_("Random seed"), min_value=0, max_value=2**31 - 1, initial=0, required=False
    )

    def clean_n_boot(self) -> int:
        value = self.cleaned_data.get("n_boot")
        return 1000 if value is None else int(value)

    def clean_seed(self) -> int:
        value = self.cleaned_data.get("seed")
        return 0 if value is None else int(value)
