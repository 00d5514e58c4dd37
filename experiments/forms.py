"""Forms of the researcher's pages: they validate and normalise; services decide."""

from typing import Any, cast

from django import forms
from django.conf import settings
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils.translation import gettext_lazy as _

from experiments.models import StimulusImport, Study
from experiments.services import EDITABLE_FIELDS, TRIAL_DESIGN_FIELDS


class LinesField(forms.CharField):
    """A list of strings edited as one line each."""

    widget = forms.Textarea(attrs={"rows": 5})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(v) for v in value) if isinstance(value, list) else value

    def has_changed(self, initial: Any, data: Any) -> bool:
        before = initial if isinstance(initial, list) else self.to_python(initial)
        return before != self.to_python(data)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in str(text).splitlines() if line.strip()]


TRANSLATION_KEYS = {
    "title",
    "description",
    "consent_text",
    "instructions",
    "training_feedback",
    "scale_labels",
    "perspectives",
}


class StudyForm(forms.ModelForm):
    languages = forms.MultipleChoiceField(
        choices=settings.PARTICIPANT_LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
        initial=["en"],
        required=False,
        label=_("Languages"),
        help_text=_(
            "The participant pages' languages. The texts above are in the first one ticked; give the "
            "study's own texts in the others under Translations."
        ),
    )
    translations = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        label=_("Translations"),
        help_text=_(
            'The study\'s own texts per language, e.g. {"zh-hans": {"title": "…", "consent_text": "…", '
            '"instructions": "…", "training_feedback": "…", "scale_labels": ["…"], "perspectives": '
            '{"quality": {"label": "…", "question": "…", "level_descriptions": ["…"]}}}}'
        ),
    )

    def clean_languages(self) -> list[str]:
        return list(self.cleaned_data.get("languages") or ["en"])

    def clean_translations(self) -> dict[str, Any]:
        value = self.cleaned_data.get("translations") or {}
        known = dict(settings.PARTICIPANT_LANGUAGES)
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise forms.ValidationError(_("Give one object of texts per language code."))
        for code, texts in value.items():
            if code not in known:
                raise forms.ValidationError(_("Unknown language code: %(code)s") % {"code": code})
            unknown = set(texts) - TRANSLATION_KEYS
            if unknown:
                raise forms.ValidationError(
                    _("Unknown text(s) for %(code)s: %(keys)s")
                    % {"code": code, "keys": ", ".join(sorted(unknown))}
                )
        return value

    completion_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label=_("Completion URL"),
        help_text=_(
            "Where participants go at the end, e.g. https://app.prolific.com/submissions/complete?cc=CODE"
        ),
    )
    scale_labels = LinesField(
        required=False,
        label=_("Scale labels"),
        help_text=_(
            "One per level from the lowest (integer scale), or two end labels (slider). Empty: numbers only."
        ),
    )

    class Meta:
        model = Study
        fields = [
            "title",
            "description",
            "instructions",
            "consent_text",
            "target_ratings",
            "stimuli_per_session",
            "break_every",
            "min_viewing_ms",
            "allocation_mode",
            "precision_min_ratings",
            "precision_max_ratings",
            "training_count",
            "session_expiry_minutes",
            "scale_kind",
            "scale_min",
            "scale_max",
            "scale_labels",
            "gold_per_session",
            "repeats_per_session",
            "traps_per_session",
            "check_straightlining",
            "qc_action",
            "panel",
            "completion_code",
            "screenout_code",
            "completion_url",
            "device_policy",
            "languages",
            "training_feedback",
            "translations",
        ]
        widgets = {
            "training_feedback": forms.Textarea(attrs={"rows": 2}),
            "description": forms.Textarea(attrs={"rows": 3}),
            "instructions": forms.Textarea(attrs={"rows": 5}),
            "consent_text": forms.Textarea(attrs={"rows": 5}),
        }
        help_texts = {
            "consent_text": _("Changing it later starts a new consent version."),
            "min_viewing_ms": _("Milliseconds an image must be shown before the ratings count."),
        }

    def service_fields(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.cleaned_data.items() if k in TRIAL_DESIGN_FIELDS or k in EDITABLE_FIELDS
        }


class PerspectiveForm(forms.Form):
    key = forms.SlugField(
        max_length=40, label=_("Key"), help_text=_("Short id used in exports, e.g. quality")
    )
    label = forms.CharField(max_length=80, label=_("Label"))
    question = forms.CharField(
        max_length=300, label=_("Question shown"), widget=forms.Textarea(attrs={"rows": 2})
    )
    level_descriptions = LinesField(
        required=False, label=_("Level descriptions"), help_text=_("One per level, lowest first (optional).")
    )
    target_half_width = forms.FloatField(
        required=False,
        min_value=0.001,
        label=_("Target half-width"),
        help_text=_("Precision mode: the 95% confidence half-width of each image's mean, in scale points."),
    )


class BasePerspectiveFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        keys = [f.cleaned_data.get("key") for f in self._kept_forms()]
        if len(keys) != len(set(keys)):
            raise forms.ValidationError(_("Perspective keys must be unique."))
        if not keys:
            raise forms.ValidationError(_("A study needs at least one perspective."))

    def _kept_forms(self) -> list[forms.Form]:
        # Blank extra forms (unchanged) and ticked-for-deletion forms are left out.
        initial = self.initial_form_count()
        return [
            f
            for i, f in enumerate(self.forms)
            if (i < initial or f.has_changed())
            and getattr(f, "cleaned_data", None)
            and not f.cleaned_data.get(DELETION_FIELD_NAME, False)
        ]

    def perspectives(self) -> list[dict[str, Any]]:
        rows = self._kept_forms()
        rows.sort(key=lambda f: (f.cleaned_data.get("ORDER") or 10_000, self.forms.index(f)))
        return [
            {
                k: f.cleaned_data[k]
                for k in ("key", "label", "question", "level_descriptions", "target_half_width")
            }
            for f in rows
        ]


PerspectiveFormSet = cast(
    type[BasePerspectiveFormSet],
    forms.formset_factory(
        PerspectiveForm, formset=BasePerspectiveFormSet, extra=1, can_delete=True, can_order=True
    ),
)


class StudyCreateForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Description")
    )


class StimulusUploadForm(forms.Form):
    kind = forms.ChoiceField(
        choices=StimulusImport.Kind.choices, initial=StimulusImport.Kind.MANIFEST, label=_("Layout")
    )
    archive = forms.FileField(
        label=_("Zip archive"),
        help_text=_("Images plus manifest.csv (file,prompt,model), or the AIGCIQA2023 folder zipped."),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )

    def clean_archive(self) -> Any:
        archive = self.cleaned_data["archive"]
        if archive.size > settings.STIMULUS_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than the limit of %(limit)s bytes.")
                % {"limit": f"{settings.STIMULUS_UPLOAD_MAX_BYTES:,}"}
            )
        return archive
