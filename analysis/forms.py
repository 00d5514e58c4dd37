"""The start-analysis form: a method, its parameters, and the run options."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analysis.stats import DEFAULT_METHOD, METHODS


def _param_field(default: Any) -> forms.Field:
    if isinstance(default, bool):
        return forms.BooleanField(required=False, initial=default)
    if isinstance(default, int):
        return forms.IntegerField(initial=default)
    if isinstance(default, float):
        return forms.FloatField(initial=default, widget=forms.NumberInput(attrs={"step": "any"}))
    return forms.CharField(initial=str(default), max_length=100)


def param_field_name(method: str, param: str) -> str:
    return f"p__{method}__{param}"


class AnalysisRunStartForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), initial=DEFAULT_METHOD)
    include_pilot = forms.BooleanField(label=_("Include pilot participants"), required=False)
    exclude_qc_failures = forms.BooleanField(
        label=_("Leave out raters who failed quality-control checks"), required=False, initial=True
    )
    include_panel_ids = forms.BooleanField(
        label=_("Name raters by their panel id in raw_ratings.csv (default: pseudonymous codes)"),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        method_field = self.fields["method"]
        assert isinstance(method_field, forms.ChoiceField)
        method_field.choices = [(name, f"{name}: {m.summary}") for name, m in METHODS.items()]
        for name, m in METHODS.items():
            for param, default in m.defaults.items():
                field = _param_field(default)
                field.label = param
                # Only the chosen method's fields are read; the others may stay empty.
                field.required = False
                self.fields[param_field_name(name, param)] = field

    def method_fieldsets(self) -> list[dict[str, Any]]:
        """One group of parameter fields per method, for the template."""
        return [
            {
                "name": name,
                "summary": m.summary,
                "fields": [self[param_field_name(name, p)] for p in m.defaults],
            }
            for name, m in METHODS.items()
        ]

    def parameters(self) -> dict[str, Any]:
        """The chosen method's parameters that were filled in (empty ones take the default)."""
        method = self.cleaned_data["method"]
        out: dict[str, Any] = {}
        for param, default in METHODS[method].defaults.items():
            value = self.cleaned_data.get(param_field_name(method, param))
            if isinstance(default, bool):
                out[param] = bool(value)
            elif value not in (None, ""):
                out[param] = value
        return out
