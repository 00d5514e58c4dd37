"""Input and output shapes of the experiments API (one component name each in the schema)."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from experiments.models import AnnotationTask, Stimulus, StimulusImport, Study
from experiments.validators import languages_validate, translations_validate

STUDY_SETTINGS = [
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
    "questionnaire",
    "panel",
    "completion_code",
    "screenout_code",
    "noconsent_code",
    "completion_url",
    "pay_per_participant",
    "training_feedback",
    "device_policy",
    "languages",
    "translations",
]


class PerspectiveSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=40)
    # DRF moves declared fields off the class; the stubs see Field.label (a str) instead.
    label = serializers.CharField(max_length=80)  # type: ignore[assignment]
    question = serializers.CharField(max_length=300)
    level_descriptions = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, default=list
    )
    # Left out: the perspective keeps its target; null clears it.
    target_half_width = serializers.FloatField(required=False, allow_null=True, min_value=0.001)


class AnnotationTaskSerializer(serializers.Serializer):
    """Rich feedback asked on every trial: regions (points on the image) or words (prompt words)."""

    key = serializers.SlugField(max_length=40)
    kind = serializers.ChoiceField(choices=AnnotationTask.Kind.choices)
    label = serializers.CharField(max_length=80)  # type: ignore[assignment]
    instructions = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class StudyOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    collaborators = serializers.SerializerMethodField(help_text="Researchers who may change the study")
    viewers = serializers.SerializerMethodField(help_text="Researchers who may only see the study")
    perspectives = serializers.SerializerMethodField()
    annotation_tasks = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "slug",
            "title",
            "status",
            "owner",
            "collaborators",
            "viewers",
            "archived_at",
            "consent_version",
            *STUDY_SETTINGS,
            "perspectives",
            "annotation_tasks",
            "created_at",
            "updated_at",
        ]

    def get_collaborators(self, study: Study) -> list[str]:
        return [u.get_username() for u in study.collaborators.all()]

    def get_viewers(self, study: Study) -> list[str]:
        return [u.get_username() for u in study.viewers.all()]

    @extend_schema_field(PerspectiveSerializer(many=True))
    def get_perspectives(self, study: Study) -> list[dict[str, Any]]:
        data = [
            {
                "key": p.key,
                "label": p.label,
                "question": p.question,
                "level_descriptions": p.level_descriptions,
                "target_half_width": p.target_half_width,
            }
            # .all(), not .order_by(): the list's prefetch serves it (Meta.ordering sorts by order)
            for p in study.perspectives.all()
        ]
        return PerspectiveSerializer(data, many=True).data  # type: ignore[return-value]

    @extend_schema_field(AnnotationTaskSerializer(many=True))
    def get_annotation_tasks(self, study: Study) -> list[dict[str, Any]]:
        # .all(), not .order_by(): the list's prefetch serves it (Meta.ordering sorts by order)
        return AnnotationTaskSerializer(study.annotation_tasks.all(), many=True).data  # type: ignore[return-value]


class StudyUpdateInputSerializer(serializers.ModelSerializer):
    """Every field optional: send what changes. `perspectives` and `annotation_tasks` each replace
    their whole ordered list."""

    perspectives = PerspectiveSerializer(many=True, required=False)
    annotation_tasks = AnnotationTaskSerializer(many=True, required=False)
    scale_labels = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    questionnaire = serializers.ListField(child=serializers.JSONField(), required=False)
    languages = serializers.ListField(
        child=serializers.CharField(max_length=20),
        required=False,
        help_text="The participant pages' languages; the study's own texts are in the first.",
    )
    translations = serializers.JSONField(
        required=False,
        help_text='The study\'s own texts per further language: {"zh-hans": {"title": "…", "consent_text": "…", '
        '"instructions": "…", "training_feedback": "…", "scale_labels": ["…"], "perspectives": {"quality": '
        '{"label": "…", "question": "…", "level_descriptions": ["…"]}}, "questionnaire": {"age": {"label": "…", '
        '"choices": ["…"]}}}}',
    )

    class Meta:
        model = Study
        fields = ["title", *STUDY_SETTINGS, "perspectives", "annotation_tasks"]
        extra_kwargs = {name: {"required": False} for name in ["title", *STUDY_SETTINGS]}

    def validate_languages(self, value: list[str]) -> list[str]:
        try:
            return languages_validate(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate_translations(self, value: Any) -> dict[str, Any]:
        # The questionnaire sent with the translations, else the study's saved one (the view's context).
        sent = self.initial_data.get("questionnaire") if isinstance(self.initial_data, dict) else None
        questionnaire = sent if sent is not None else self.context.get("questionnaire")
        try:
            return translations_validate(value, questionnaire if isinstance(questionnaire, list) else [])
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class StudyCreateInputSerializer(StudyUpdateInputSerializer):
    class Meta(StudyUpdateInputSerializer.Meta):
        extra_kwargs = {**StudyUpdateInputSerializer.Meta.extra_kwargs, "title": {"required": True}}


class StudyDuplicateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    copy_stimuli = serializers.BooleanField(required=False, default=False)


class StimulusOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.CharField(read_only=True)

    class Meta:
        model = Stimulus
        fields = [
            "id",
            "position",
            "name",
            "image_url",
            "sha256",
            "width",
            "height",
            "format",
            "prompt",
            "generator",
            "categories",
            "metadata",
            "role",
            "reference_scores",
            "created_at",
        ]


class ImportProblemSerializer(serializers.Serializer):
    message = serializers.CharField()
    file = serializers.CharField(allow_blank=True)
    row = serializers.IntegerField(allow_null=True)


class StimulusImportOutputSerializer(serializers.ModelSerializer):
    problems = ImportProblemSerializer(many=True, read_only=True)

    class Meta:
        model = StimulusImport
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "problems",
            "imported_count",
            "original_name",
            "created_at",
            "started_at",
            "finished_at",
        ]


class StimulusImportCreateInputSerializer(serializers.Serializer):
    archive = serializers.FileField(help_text="Zip archive: images + manifest.csv, or the AIGCIQA2023 layout")
    kind = serializers.ChoiceField(choices=StimulusImport.Kind.choices, default=StimulusImport.Kind.MANIFEST)

    def validate_archive(self, archive: Any) -> Any:
        if archive.size > settings.STIMULUS_UPLOAD_MAX_BYTES:
            raise serializers.ValidationError(
                f"larger than the limit of {settings.STIMULUS_UPLOAD_MAX_BYTES:,} bytes"
            )
        return archive


class DashboardBinSerializer(serializers.Serializer):
    ratings = serializers.IntegerField(help_text="Valid ratings (the last bin: at least the target)")
    stimuli = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label


class DashboardPerspectiveSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the field shadows Field.label
    valid_ratings = serializers.IntegerField()
    stimuli_at_target = serializers.IntegerField()
    ratings_needed = serializers.IntegerField()
    fewest = serializers.IntegerField(help_text="Valid ratings of the least-rated test stimulus")


class DashboardAnalysisSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    finished_at = serializers.DateTimeField()
    rejected = serializers.IntegerField()


class DashboardOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    target = serializers.IntegerField()
    participants = serializers.IntegerField()
    sessions_started = serializers.IntegerField()
    sessions_in_progress = serializers.IntegerField()
    sessions_completed = serializers.IntegerField()
    sessions_screened_out = serializers.IntegerField()
    sessions_declined = serializers.IntegerField()
    sessions_expired = serializers.IntegerField()
    test_stimuli = serializers.IntegerField()
    stimuli_at_target = serializers.IntegerField()
    valid_ratings = serializers.IntegerField()
    ratings_needed = serializers.IntegerField()
    percent_complete = serializers.FloatField()
    histogram = DashboardBinSerializer(many=True)
    median_response_ms = serializers.FloatField(allow_null=True)
    qc_failed_sessions = serializers.IntegerField()
    qc_failures = serializers.DictField(child=serializers.IntegerField())
    ratings_last_hour = serializers.IntegerField()
    eta_seconds = serializers.FloatField(allow_null=True)
    eta_text = serializers.CharField()
    sessions_stalled = serializers.IntegerField(
        help_text="Live sessions idle past the stall time, not yet expired"
    )
    perspectives = DashboardPerspectiveSerializer(many=True)
    participants_needed = serializers.IntegerField(help_text="Complete, usable participants still needed")
    usable_share = serializers.FloatField(allow_null=True)
    usable_text = serializers.CharField()
    participants_to_recruit = serializers.IntegerField()
    pay_per_participant = serializers.FloatField(allow_null=True)
    cost_to_finish = serializers.FloatField(allow_null=True)
    cost_text = serializers.CharField()
    latest_analysis = DashboardAnalysisSerializer(allow_null=True)
    generated_at = serializers.DateTimeField()
