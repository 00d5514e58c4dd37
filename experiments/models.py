"""What is studied: studies, their perspectives and scale, and the stimuli."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def default_languages() -> list[str]:
    return ["en"]


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        PAUSED = "paused", _("Paused")
        CLOSED = "closed", _("Closed")

    class AllocationMode(models.TextChoices):
        BALANCED = "balanced", _("Balanced subsets")
        FULL = "full", _("Every participant rates everything")
        PRECISION = "precision", _("Precision: more ratings where the MOS is still uncertain")

    class ScaleKind(models.TextChoices):
        INTEGER = "integer", _("Integer levels")
        CONTINUOUS = "continuous", _("Continuous slider")

    class Panel(models.TextChoices):
        PROLIFIC = "prolific", _("Prolific")
        MTURK = "mturk", _("Amazon Mechanical Turk")
        GENERIC = "generic", _("Generic panel (?pid=)")
        LAB = "lab", _("Lab invite links")

    class DevicePolicy(models.TextChoices):
        COMPUTER = "computer", _("Computer only")
        ANY = "any", _("Any device (phone layout when the images fit)")

    class QcAction(models.TextChoices):
        RECORD = "record", _("Record failures for the analysis only")
        SCREEN_OUT = "screen_out", _("End the session with the screen-out code")

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True)
    consent_text = models.TextField(blank=True)
    consent_version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_studies"
    )
    # Editors may change everything the owner may; viewers only read (experiments.selectors).
    collaborators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_studies"
    )
    viewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="viewed_studies")
    archived_at = models.DateTimeField(null=True, blank=True, help_text=_("Hidden from the study list"))

    # Trial design: refused once ratings exist (see experiments.services.study_update).
    target_ratings = models.PositiveIntegerField(default=20)
    stimuli_per_session = models.PositiveIntegerField(default=20)
    break_every = models.PositiveIntegerField(default=25, help_text=_("0 = no breaks"))
    min_viewing_ms = models.PositiveIntegerField(default=2000)
    allocation_mode = models.CharField(
        max_length=10, choices=AllocationMode.choices, default=AllocationMode.BALANCED
    )
    # Precision mode (ratings.precision): valid ratings per image stay between these bounds; an
    # image retires earlier once its interval meets every perspective's `target_half_width`.
    precision_min_ratings = models.PositiveIntegerField(
        default=5, help_text=_("Precision mode: valid ratings every image gets at least")
    )
    precision_max_ratings = models.PositiveIntegerField(
        default=40, help_text=_("Precision mode: valid ratings no image gets more than")
    )
    session_expiry_minutes = models.PositiveIntegerField(default=60)
    training_count = models.PositiveIntegerField(default=3)
    scale_kind = models.CharField(max_length=10, choices=ScaleKind.choices, default=ScaleKind.INTEGER)
    scale_min = models.IntegerField(default=1)
    scale_max = models.IntegerField(default=5)
    scale_labels = models.JSONField(default=list, blank=True)  # one per level, or [low, high]

    # Quality control.
    gold_per_session = models.PositiveIntegerField(default=0)
    repeats_per_session = models.PositiveIntegerField(default=0)
    traps_per_session = models.PositiveIntegerField(default=0)
    check_straightlining = models.BooleanField(default=True)
    qc_action = models.CharField(max_length=12, choices=QcAction.choices, default=QcAction.RECORD)
    questionnaire = models.JSONField(default=list, blank=True)

    # Recruitment.
    panel = models.CharField(max_length=10, choices=Panel.choices, default=Panel.GENERIC)
    completion_code = models.CharField(max_length=64, blank=True)
    screenout_code = models.CharField(max_length=64, blank=True)
    # Prolific's convention for a declined consent: its own completion code (the "no consent"
    # code of the study on Prolific), or, when empty, a request to return the submission.
    noconsent_code = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("Code for participants who decline consent; empty: they are asked to return the study."),
    )
    completion_url = models.URLField(blank=True)
    # Phones and tablets are told before consent (and nothing is allocated) unless "any device".
    device_policy = models.CharField(
        max_length=10, choices=DevicePolicy.choices, default=DevicePolicy.COMPUTER
    )

    # Languages: the first is the language of the texts above; `translations` holds the study's own
    # texts in the others ({language: {title, description, consent_text, instructions,
    # training_feedback, scale_labels, perspectives: {key: {label, question, level_descriptions}}}}).
    languages = models.JSONField(default=default_languages, blank=True)
    translations = models.JSONField(default=dict, blank=True)
    training_feedback = models.TextField(blank=True, help_text=_("Shown with the practice feedback"))
    # What one participant is paid (in the panel's currency): the dashboard's cost estimate.
    pay_per_participant = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    # A link of another panel seen on this study (e.g. Prolific's PROLIFIC_PID on a generic-panel
    # study): those parameters are not read, so the researcher is warned on the study page.
    foreign_panel_seen = models.CharField(max_length=10, choices=Panel.choices, blank=True)
    foreign_panel_seen_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scale_max__gt=models.F("scale_min")), name="scale_range_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("experiments:study-detail", kwargs={"slug": self.slug})


class Perspective(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="perspectives")
    order = models.PositiveIntegerField()
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    question = models.CharField(max_length=300)
    level_descriptions = models.JSONField(default=list, blank=True)
    # Precision mode: the aimed 95% confidence half-width of each image's mean, in scale points.
    target_half_width = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["study", "order"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="perspective_key_unique_per_study"),
            models.UniqueConstraint(fields=["study", "order"], name="perspective_order_unique_per_study"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.key}"


class AnnotationTask(models.Model):
    """Rich feedback asked on every trial beside the scores (issue 17): where the image fails
    ("regions": points on the image) or which prompt words it misses ("words": marked tokens).
    A study has at most one task of each kind."""

    class Kind(models.TextChoices):
        REGIONS = "regions", _("Regions (points on the image)")
        WORDS = "words", _("Prompt words (missing or wrong)")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="annotation_tasks")
    order = models.PositiveIntegerField()
    key = models.SlugField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=80)
    instructions = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["study", "order"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="annotation_task_key_unique_per_study"),
            models.UniqueConstraint(fields=["study", "order"], name="annotation_task_order_unique_per_study"),
            models.UniqueConstraint(fields=["study", "kind"], name="annotation_task_kind_unique_per_study"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.key} ({self.kind})"


def stimulus_upload_to(instance: "Stimulus", filename: str) -> str:
    # Content-addressed: the URL tells a rater nothing about model, prompt or position.
    ext = (instance.format or "png").lower().replace("jpeg", "jpg")
    return f"stimuli/{instance.sha256[:2]}/{instance.sha256}.{ext}"


class Stimulus(models.Model):
    class Role(models.TextChoices):
        TEST = "test", _("Test")
        TRAINING = "training", _("Training")
        GOLD = "gold", _("Gold")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="stimuli")
    position = models.PositiveIntegerField(help_text=_("Row in exported MOS files"))
    name = models.CharField(max_length=255, help_text=_("File name in the import"))
    image = models.FileField(upload_to=stimulus_upload_to, max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    prompt = models.TextField()
    generator = models.CharField(max_length=100, blank=True, help_text=_("Generating model"))
    categories = models.JSONField(default=dict, blank=True)  # e.g. {"challenge": ..., "scene": ...}
    metadata = models.JSONField(default=dict, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.TEST)
    reference_scores = models.JSONField(default=dict, blank=True)  # {perspective key: score}
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "stimuli"
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "position"], name="stimulus_position_unique_per_study"),
        ]
        indexes = [models.Index(fields=["study", "role"], name="stimulus_study_role")]

    def __str__(self) -> str:
        return f"{self.study.slug}#{self.position} {self.name}"

    @property
    def image_url(self) -> str:
        """Participant-facing URL: the content hash only, so raters stay blind."""
        return reverse("stimulus-image", kwargs={"sha256": self.sha256, "ext": self.image_ext})

    @property
    def image_ext(self) -> str:
        """The stored file's extension, as the participant-facing URL carries it."""
        return image_ext_of(self.image.name)


def image_ext_of(name: str | None) -> str:
    """The extension of a stored image's name, as the participant-facing URL carries it."""
    return name.rsplit(".", 1)[-1] if name else "png"


class StimulusImport(models.Model):
    """One upload of stimuli, validated and imported as a whole by a background job."""

    class Kind(models.TextChoices):
        MANIFEST = "manifest", _("Archive or folder with a CSV manifest")
        AIGCIQA2023 = "aigciqa2023", _("AIGCIQA2023 layout")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.MANIFEST)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=500, help_text=_("Uploaded archive path in storage, or a folder"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    progress = models.FloatField(default=0.0)  # 0..1
    message = models.CharField(max_length=300, blank=True)
    problems = models.JSONField(default=list, blank=True)
    imported_count = models.PositiveIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True, help_text=_("Uploaded file name"))
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last successful publish to the broker

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.study.slug} ({self.status})"
