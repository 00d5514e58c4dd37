"""The start-analysis form: a method, its parameters, and the run options."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analysis.stats import DEFAULT_METHOD, METHODS

# What each method parameter means, in words: label, help, and the valid choices with their meaning.
CI_CHOICES = [(0.9, _("90 %")), (0.95, _("95 % (usual)")), (0.99, _("99 %"))]
PARAM_UI: dict[str, dict[str, Any]] = {
    "screen": {
        "label": _("Screen out unreliable raters (ITU-R BT.500 §A1-2.3.1)"),
        "help": _("Raters whose scores too often fall outside the others' spread are left out."),
    },
    "screen_on": {
        "label": _("Screen on"),
        "choices": [
            ("raw", _("Raw scores (as BT.500 describes)")),
            ("zscores", _("Per-rater z-scores (as AIGCIQA2023 and sureal do)")),
        ],
    },
    "screening_sd": {
        "label": _("Spread used for screening"),
        "choices": [
            ("sample", _("Sample standard deviation (n − 1)")),
            ("population", _("Population standard deviation (n)")),
        ],
    },
    "screening_denominator": {
        "label": _("A rater's outlier share counts against"),
        "choices": [
            ("rated", _("The images that rater rated (fair to raters of subsets)")),
            ("total", _("All images of the study (BT.500's full-matrix reading)")),
        ],
    },
    "degenerate_stimuli": {
        "label": _("Images with too few ratings to judge outliers"),
        "choices": [
            ("skip", _("Skip them when counting outliers")),
            ("count", _("Count their ratings as within range")),
        ],
    },
    "ci": {"label": _("Confidence interval"), "choices": CI_CHOICES},
    "threshold": {
        "label": _("Outlier threshold (in standard deviations)"),
        "help": _("A vote this far from the image's other votes is dropped; 3.29 is two-sided 0.1 %."),
    },
    "tol": {"label": _("Convergence tolerance"), "help": _("Stop when estimates change less than this.")},
    "max_iter": {"label": _("Maximum iterations")},
}


def _param_field(param: str, default: Any) -> forms.Field:
    ui = PARAM_UI.get(param, {})
    field: forms.Field
    if "choices" in ui:
        coerce = float if isinstance(default, float) else str
        widget = forms.Select if param == "ci" else forms.RadioSelect
        field = forms.TypedChoiceField(choices=ui["choices"], coerce=coerce, initial=default, widget=widget)
    elif isinstance(default, bool):
        field = forms.BooleanField(initial=default)
    elif isinstance(default, int):
        field = forms.IntegerField(initial=default, min_value=1)
    elif isinstance(default, float):
        field = forms.FloatField(initial=default, widget=forms.NumberInput(attrs={"step": "any"}))
    else:
        field = forms.CharField(initial=str(default), max_length=100)
    field.label = ui.get("label", param.replace("_", " ").capitalize())
    field.help_text = ui.get("help", "")
    # Only the chosen method's fields are read; the others may stay empty.
    field.required = False
    return field


def param_field_name(method: str, param: str) -> str:
    return f"p__{method}__{param}"


METHOD_LABELS = {
    "bt500_zscore": _(
        "BT.500 with z-scores (recommended): screen out unreliable raters, normalise each rater, MOS on 0..100"
    ),
    "mos": _("Plain MOS: the mean of the raw scores, nobody screened out"),
    "vote_outliers": _("Drop outlying votes: normalise each rater, drop single far-off votes, MOS on 0..100"),
    "mle": _("Rater model (maximum likelihood): estimates each rater's bias and inconsistency, raw scale"),
}


class AnalysisRunStartForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), initial=DEFAULT_METHOD, widget=forms.RadioSelect)
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
        method_field.choices = [(name, METHOD_LABELS.get(name, m.summary)) for name, m in METHODS.items()]
        for name, m in METHODS.items():
            for param, default in m.defaults.items():
                self.fields[param_field_name(name, param)] = _param_field(param, default)

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
