"""Researcher forms of the ratings app: panel decisions and forgetting a participant."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ratings.models import PanelDecision


class ParticipantDecisionForm(forms.Form):
    """The researcher's override of a suggested panel decision."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        required=False,
        choices=[("", _("Follow the suggestion")), *PanelDecision.choices],
    )
    message = forms.CharField(label=_("Message to the participant"), required=False, max_length=500)


class ParticipantForgetForm(forms.Form):
    confirm = forms.BooleanField(label=_("I understand this cannot be undone."))
    delete_ratings = forms.BooleanField(
        label=_("Also delete their ratings (their images are then topped up by new participants)"),
        required=False,
    )
