"""The pilot's options (validated again by pilot.services)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from pilot.services import MAX_DIFFICULTY, MAX_RATERS


class PilotStartForm(forms.Form):
    raters = forms.IntegerField(label=_("Simulated raters"), min_value=1, max_value=MAX_RATERS, initial=20)
    spammers = forms.IntegerField(label=_("Random raters (%)"), min_value=0, max_value=100, initial=10)
    straightliners = forms.IntegerField(label=_("Straight-liners (%)"), min_value=0, max_value=100, initial=5)
    abandoners = forms.IntegerField(label=_("Abandon mid-session (%)"), min_value=0, max_value=100, initial=5)
    noise = forms.FloatField(
        label=_("Inconsistency of honest raters (scale points)"),
        min_value=0,
        max_value=10,
        initial=0.5,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )
    difficulty = forms.FloatField(
        label=_("Spread of image difficulty"),
        min_value=0,
        max_value=MAX_DIFFICULTY,
        initial=0.5,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text=_(
            "0: every image is as hard to agree on as the others; 0.5: the hardest images get about "
            "twice the noise of a typical one, the cleanest half."
        ),
    )
    compare_modes = forms.BooleanField(
        label=_("Also simulate the whole study in balanced and in precision allocation"),
        required=False,
        initial=True,
        help_text=_("Reports the valid ratings each mode needs for the same accuracy, and the saving."),
    )
    seed = forms.IntegerField(
        label=_("Seed (empty: random)"),
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text=_("The same seed plants the same truth and the same raters."),
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if (data.get("spammers") or 0) + (data.get("straightliners") or 0) > 100:
            raise forms.ValidationError(_("Random raters and straight-liners add up to 100% at most."))
        return data

    def options(self) -> dict:
        """The keyword arguments of pilot.services.pilot_run_start."""
        d = self.cleaned_data
        return {
            "raters": d["raters"],
            "spammers": d["spammers"] / 100,
            "straightliners": d["straightliners"] / 100,
            "abandoners": d["abandoners"] / 100,
            "noise": d["noise"],
            "difficulty": d["difficulty"] or 0.0,
            "compare_modes": bool(d["compare_modes"]),
            "seed": d["seed"],
        }
