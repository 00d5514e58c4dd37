"""Forms of the researcher's pages: they validate and normalise; services decide."""

import json
from typing import Any, cast

from django import forms
from django.conf import settings
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils.translation import gettext_lazy as _

from experiments.models import AnnotationTask, StimulusImport, Study
from experiments.services import EDITABLE_FIELDS, TRIAL_DESIGN_FIELDS
from experiments.validators import translations_validate


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


COMPLETION_URL_HELP = {
    Study.Panel.PROLIFIC: _(
        "Not used for Prolific: participants are sent to Prolific with the completion code below."
    ),
    Study.Panel.MTURK: _("Not used for MTurk: the HIT is submitted to MTurk at the end."),
    Study.Panel.GENERIC: _(
        "Where participants go at the end; {code} and {pid} are filled in, "
        "e.g. https://panel.example/complete?code={code}&id={pid}. Empty: they see the code on our page."
    ),
    Study.Panel.LAB: _("Optional page to send participants to at the end; {code} is filled in."),
}
LOCKED_HELP = _("Locked: the study has ratings.")

# The settings page, section by section: (anchor, title, fields of StudyForm).
SETTINGS_SECTIONS = [
    (
        "design",
        _("Design"),
        [
            "target_ratings",
            "stimuli_per_session",
            "allocation_mode",
            "precision_min_ratings",
            "precision_max_ratings",
            "training_count",
            "min_viewing_ms",
            "break_every",
            "session_expiry_minutes",
        ],
    ),
    ("scale", _("Perspectives and scale"), ["scale_kind", "scale_min", "scale_max", "scale_labels"]),
    (
        "participants",
        _("Participants and panel"),
        ["panel", "completion_code", "screenout_code", "noconsent_code", "completion_url"],
    ),
    ("devices", _("Devices and languages"), ["device_policy", "languages", "translations"]),
    (
        "quality",
        _("Quality control"),
        ["gold_per_session", "repeats_per_session", "traps_per_session", "check_straightlining", "qc_action"],
    ),
    ("texts", _("Texts"), ["title", "description", "instructions", "consent_text", "training_feedback"]),
]


class StudyForm(forms.ModelForm):
    languages = forms.MultipleChoiceField(
        choices=settings.PARTICIPANT_LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
        initial=["en"],
        required=False,
        label=_("Languages"),
        help_text=_(
            "The participant pages' languages. The study's texts are in the first one ticked; give the "
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
            '{"quality": {"label": "…", "question": "…", "level_descriptions": ["…"]}}, '
            '"questionnaire": {"age": {"label": "…", "choices": ["…"]}}}}'
        ),
    )

    def clean_languages(self) -> list[str]:
        return list(self.cleaned_data.get("languages") or ["en"])

    def clean_translations(self) -> dict[str, Any]:
        return translations_validate(self.cleaned_data.get("translations") or {}, self.instance.questionnaire)

    completion_url = forms.URLField(required=False, assume_scheme="https", label=_("Completion URL"))
    scale_labels = LinesField(
        required=False,
        label=_("Scale labels"),
        help_text=_(
            "One per line, lowest level first (integer scale), or two end labels (slider). Empty: numbers only."
        ),
    )

    class Meta:
        model = Study
        fields = [name for _, _, names in SETTINGS_SECTIONS for name in names]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "instructions": forms.Textarea(attrs={"rows": 5}),
            "consent_text": forms.Textarea(attrs={"rows": 5}),
            "training_feedback": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {
            "target_ratings": _("Ratings wanted per image"),
            "stimuli_per_session": _("Images per session"),
            "allocation_mode": _("Who rates what"),
            "training_count": _("Practice trials"),
            "min_viewing_ms": _("Minimum viewing time (ms)"),
            "break_every": _("Break every … images"),
            "session_expiry_minutes": _("Session expires after (minutes)"),
            "scale_kind": _("Scale type"),
            "scale_min": _("Lowest score"),
            "scale_max": _("Highest score"),
            "panel": _("Recruitment panel"),
            "completion_code": _("Completion code"),
            "screenout_code": _("Screen-out code"),
            "gold_per_session": _("Gold images per session"),
            "repeats_per_session": _("Repeated images per session"),
            "traps_per_session": _("Attention traps per session"),
            "check_straightlining": _("Flag straight-lining"),
            "qc_action": _("When a participant fails a check"),
            "consent_text": _("Consent text"),
        }
        help_texts = {
            "target_ratings": _(
                "Valid ratings each test image should collect (ITU-T P.910 asks for 15 or more)."
            ),
            "stimuli_per_session": _("Test images one participant rates, practice and checks not included."),
            "training_count": _("Shown first and not analysed; taken from the training images."),
            "min_viewing_ms": _("An image must be shown this long before its rating counts."),
            "break_every": _("0 = no breaks."),
            "session_expiry_minutes": _("An unfinished session frees its images after this long."),
            "completion_code": _("What participants report to the panel when they finish."),
            "screenout_code": _("Given to participants ended early by a failed check."),
            "gold_per_session": _(
                "Images with known reference scores (role gold) mixed in; a rating far from the reference fails."
            ),
            "repeats_per_session": _(
                "Test images shown a second time; a very different second rating fails (consistency check)."
            ),
            "traps_per_session": _(
                "Trials that say which score to give (attention check); any other score fails."
            ),
            "check_straightlining": _("Flags sessions that give (almost) the same score to every image."),
            "qc_action": _(
                "Record: keep the session and let the analysis decide. Screen out: end it at once."
            ),
            "consent_text": _("Changing it later starts a new consent version."),
        }

    def __init__(self, *args: Any, locked: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        panel = self.data.get("panel") or self.instance.panel
        self.fields["completion_url"].help_text = COMPLETION_URL_HELP.get(panel, "")
        # Every panel's hint, for researcher-edit.js to switch as the panel changes.
        self.fields["completion_url"].widget.attrs["data-help"] = json.dumps(
            {k: str(v) for k, v in COMPLETION_URL_HELP.items()}
        )
        self.locked = locked
        if locked:
            for name in TRIAL_DESIGN_FIELDS:
                if name in self.fields:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = LOCKED_HELP

    # Long choices, checkboxes and URLs read better on a row of their own.
    WIDE = (
        "qc_action",
        "check_straightlining",
        "completion_url",
        "scale_labels",
        "languages",
        "translations",
    )

    def sections(self) -> list[dict[str, Any]]:
        return [
            {
                "id": anchor,
                "title": title,
                "fields": [self[name] for name in names if name not in self.WIDE],
                "wide": [self[name] for name in names if name in self.WIDE],
            }
            for anchor, title, names in SETTINGS_SECTIONS
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, low, high = data.get("scale_kind"), data.get("scale_min"), data.get("scale_max")
        labels = data.get("scale_labels") or []
        if kind == Study.ScaleKind.CONTINUOUS:
            if len(labels) not in (0, 2):
                self.add_error("scale_labels", _("A slider takes two end labels (low, high), or none."))
        elif low is not None and high is not None:
            if high <= low:
                self.add_error(
                    "scale_max", _("The highest score must be above the lowest (%(low)d).") % {"low": low}
                )
            elif high - low + 1 > 101:
                self.add_error(
                    "scale_max", _("An integer scale has at most 101 levels; use the slider instead.")
                )
            elif labels and len(labels) != high - low + 1:
                self.add_error(
                    "scale_labels",
                    _("The scale has %(levels)d levels but %(n)d labels: give one label per level, or none.")
                    % {"levels": high - low + 1, "n": len(labels)},
                )
        return data

    def scale_levels(self) -> int | None:
        data = self.cleaned_data
        if data.get("scale_kind") == Study.ScaleKind.CONTINUOUS or data.get("scale_min") is None:
            return None
        return int(data["scale_max"]) - int(data["scale_min"]) + 1

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


class OrderedRowsFormSet(forms.BaseFormSet):
    """A formset of ordered rows (perspectives, annotation tasks): the rows kept, in their order."""

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

    def _ordered_forms(self) -> list[forms.Form]:
        rows = self._kept_forms()
        rows.sort(key=lambda f: (f.cleaned_data.get("ORDER") or 10_000, self.forms.index(f)))
        return rows


class BasePerspectiveFormSet(OrderedRowsFormSet):
    def clean(self) -> None:
        super().clean()
        keys = [f.cleaned_data.get("key") for f in self._kept_forms()]
        if len(keys) != len(set(keys)):
            raise forms.ValidationError(_("Perspective keys must be unique."))
        if not keys:
            raise forms.ValidationError(_("A study needs at least one perspective."))

    def perspectives(self) -> list[dict[str, Any]]:
        rows = self._ordered_forms()
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


class AnnotationTaskForm(forms.Form):
    key = forms.SlugField(
        max_length=40, label=_("Key"), help_text=_("Short id used in exports, e.g. artefacts")
    )
    kind = forms.ChoiceField(choices=[("", "—"), *AnnotationTask.Kind.choices], label=_("Kind"))
    label = forms.CharField(
        max_length=80, label=_("Label"), help_text=_("The task's title on the trial page")
    )
    instructions = forms.CharField(
        max_length=300,
        required=False,
        label=_("Instructions shown"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class BaseAnnotationTaskFormSet(OrderedRowsFormSet):
    """Optional: none, one or both kinds, each at most once."""

    def clean(self) -> None:
        super().clean()
        kept = self._kept_forms()
        keys = [f.cleaned_data.get("key") for f in kept]
        kinds = [f.cleaned_data.get("kind") for f in kept]
        if len(keys) != len(set(keys)):
            raise forms.ValidationError(_("Annotation task keys must be unique."))
        if len(kinds) != len(set(kinds)):
            raise forms.ValidationError(
                _("A study has at most one annotation task of each kind (regions, words).")
            )

    def tasks(self) -> list[dict[str, Any]]:
        rows = self._ordered_forms()
        return [{k: f.cleaned_data[k] for k in ("key", "kind", "label", "instructions")} for f in rows]


AnnotationTaskFormSet = cast(
    type[BaseAnnotationTaskFormSet],
    forms.formset_factory(
        AnnotationTaskForm,
        formset=BaseAnnotationTaskFormSet,
        extra=1,
        max_num=len(AnnotationTask.Kind.values),
        can_delete=True,
        can_order=True,
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


class QuestionForm(forms.Form):
    """One question of the questionnaire participants answer before the trials."""

    TYPES = [("choice", _("One of several options")), ("text", _("Free text")), ("number", _("A number"))]

    key = forms.SlugField(max_length=40, label=_("Key"), help_text=_("Column name in exports, e.g. age"))
    label = forms.CharField(max_length=200, label=_("Question"))
    type = forms.ChoiceField(choices=TYPES, initial="choice", label=_("Answer"))
    choices = LinesField(
        required=False,
        label=_("Options"),
        help_text=_("One per line (option answers only)."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    required = forms.BooleanField(required=False, initial=True, label=_("Answer required"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("type") == "choice" and len(data.get("choices") or []) < 2:
            self.add_error("choices", _("Give at least two options, one per line."))
        return data


class BaseQuestionFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        keys = [f.cleaned_data.get("key") for f in self._kept_forms()]
        if len(keys) != len(set(keys)):
            raise forms.ValidationError(_("Each question needs its own key."))

    def _kept_forms(self) -> list[forms.Form]:
        return [
            f
            for f in self.forms
            if f.has_changed() or f in self.initial_forms
            if getattr(f, "cleaned_data", None) and not self._should_delete_form(f)  # type: ignore[attr-defined]
        ]

    def questions(self) -> list[dict[str, Any]]:
        out = []
        for f in self._kept_forms():
            data = f.cleaned_data
            question = {
                "key": data["key"],
                "label": data["label"],
                "type": data["type"],
                "required": data["required"],
            }
            if data["type"] == "choice":
                question["choices"] = data["choices"]
            out.append(question)
        return out


QuestionFormSet = forms.formset_factory(QuestionForm, formset=BaseQuestionFormSet, extra=1, can_delete=True)


def question_initial(questionnaire: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "key": q.get("key", ""),
            "label": q.get("label", ""),
            "type": q.get("type", "text"),
            "choices": list(q.get("choices", [])),
            "required": q.get("required", True),
        }
        for q in questionnaire
    ]


class ShareForm(forms.Form):
    username = forms.CharField(max_length=150, label=_("Researcher's user name"))
    role = forms.ChoiceField(
        choices=[
            ("viewer", _("Viewer: sees the study and its results")),
            ("editor", _("Editor: may also change it")),
        ],
        initial="viewer",
        widget=forms.RadioSelect,
        label=_("Access"),
    )

    def clean_username(self) -> Any:
        from django.contrib.auth import get_user_model

        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("No researcher is called %(name)s.") % {"name": name})
        return user


class StudyDuplicateForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title of the new study"))
    copy_stimuli = forms.BooleanField(
        required=False,
        label=_("Copy the stimuli too"),
        help_text=_("The same images, prompts and roles; nothing of the ratings is copied."),
    )


class LaunchConfirmForm(forms.Form):
    confirm = forms.BooleanField(
        required=False, label=_("I have read the warnings above and want to launch anyway.")
    )


class StudyPayForm(forms.Form):
    """The pay per participant, for the dashboard's cost estimate (empty: no estimate)."""

    pay_per_participant = forms.DecimalField(
        label=_("Pay per participant"), required=False, min_value=0, max_digits=8, decimal_places=2
    )
