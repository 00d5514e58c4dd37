"""Who rated what: participants, their sessions and assigned trials, and the scores."""

import random
import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from experiments.models import AnnotationTask, Perspective, Stimulus, Study


def new_code() -> str:
    return secrets.token_hex(6).upper()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def random_key() -> float:
    return random.random()


class PanelDecision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class Participant(models.Model):
    """A person in one study. `code` is ours; `external_id` is the panel's id for them."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    code = models.CharField(max_length=32, unique=True, default=new_code)
    panel = models.CharField(max_length=10, choices=Study.Panel.choices)
    external_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001 - NULL keeps the unique constraint off absent ids
    panel_data = models.JSONField(default=dict, blank=True)
    is_pilot = models.BooleanField(default=False)
    # Set by the latest analysis (screening, zero variance, quality control); their ratings do not
    # count as valid, so balanced allocation tops their stimuli up.
    excluded_reason = models.CharField(max_length=200, blank=True)
    # The researcher's approve/reject decision for the panel, overriding the suggested one
    # (ratings.decisions); blank = follow the suggestion.
    decision = models.CharField(max_length=10, choices=PanelDecision.choices, blank=True)
    decision_message = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "panel", "external_id"],
                condition=Q(external_id__isnull=False),
                name="one_participant_per_panel_id",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class RatingSession(models.Model):
    class Status(models.TextChoices):
        CONSENT = "consent", _("Consent")
        QUESTIONNAIRE = "questionnaire", _("Questionnaire")
        DISPLAY_CHECK = "display_check", _("Display check")
        INSTRUCTIONS = "instructions", _("Instructions")
        TRAINING = "training", _("Training")
        RATING = "rating", _("Rating")
        COMPLETED = "completed", _("Completed")
        SCREENED_OUT = "screened_out", _("Screened out")
        DECLINED = "declined", _("Declined consent")
        EXPIRED = "expired", _("Expired")

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="sessions")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sessions")
    number = models.PositiveIntegerField(default=1, help_text=_("Session number of this participant"))
    token = models.CharField(max_length=64, unique=True, default=new_token)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONSENT)
    consent_version = models.PositiveIntegerField(null=True, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    questionnaire = models.JSONField(default=dict, blank=True)
    device = models.JSONField(default=dict, blank=True)  # screen, dpr, viewport, user agent, zoom
    language = models.CharField(max_length=10, blank=True)  # the language the pages were shown in
    current_index = models.PositiveIntegerField(default=0)
    trial_count = models.PositiveIntegerField(default=0)
    qc_failures = models.JSONField(default=list, blank=True)
    is_pilot = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The stage a session was in when it expired, so that a returning participant resumes there.
    expired_from = models.CharField(max_length=16, blank=True)

    LIVE_STATUSES = (
        Status.CONSENT,
        Status.QUESTIONNAIRE,
        Status.DISPLAY_CHECK,
        Status.INSTRUCTIONS,
        Status.TRAINING,
        Status.RATING,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "number"], name="session_number_unique"),
        ]
        indexes = [models.Index(fields=["study", "status"], name="session_study_status")]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.participant_id}"


class Trial(models.Model):
    """One presentation assigned to a session, in the session's fixed order."""

    class Kind(models.TextChoices):
        TRAINING = "training", _("Training")
        TEST = "test", _("Test")
        GOLD = "gold", _("Gold")
        REPEAT = "repeat", _("Repeat")
        TRAP = "trap", _("Correspondence trap")

    # No single-column indexes: (session, index) and (stimulus, kind) below lead with these
    # columns, and every index costs each insert on the hot path.
    session = models.ForeignKey(
        RatingSession, on_delete=models.CASCADE, related_name="trials", db_index=False
    )
    index = models.PositiveIntegerField()
    stimulus = models.ForeignKey(Stimulus, on_delete=models.CASCADE, related_name="trials", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEST)
    repetition = models.PositiveSmallIntegerField(default=0)
    prompt_shown = models.TextField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session", "index"]
        constraints = [
            models.UniqueConstraint(fields=["session", "index"], name="trial_index_unique_per_session"),
        ]
        indexes = [models.Index(fields=["stimulus", "kind"], name="trial_stimulus_kind")]

    def __str__(self) -> str:
        return f"trial {self.index} of session {self.session_id}"


class Rating(models.Model):
    # No single-column indexes on session and stimulus: one_score_per_presentation and
    # rating_stimulus_perspective lead with them; every index costs each insert on the hot path.
    session = models.ForeignKey(
        RatingSession, on_delete=models.CASCADE, related_name="ratings", db_index=False
    )
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="ratings")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.CASCADE, related_name="ratings", db_index=False)
    perspective = models.ForeignKey(Perspective, on_delete=models.CASCADE, related_name="ratings")
    score = models.FloatField()
    repetition = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=Trial.Kind.choices)
    prompt_shown = models.TextField()
    trial_index = models.PositiveIntegerField()
    viewing_ms = models.PositiveIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    client_time = models.DateTimeField(null=True, blank=True)
    server_time = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.UUIDField()
    language = models.CharField(max_length=10, blank=True)  # of the question and scale texts shown

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "stimulus", "perspective", "repetition"],
                name="one_score_per_presentation",
            ),
            # A client's idempotency key names one answer: reusing it for another trial fails here.
            models.UniqueConstraint(
                fields=["idempotency_key", "perspective"], name="one_score_per_key_and_perspective"
            ),
        ]
        # The idempotency key needs no index of its own: one_score_per_key_and_perspective leads with it.
        indexes = [models.Index(fields=["stimulus", "perspective"], name="rating_stimulus_perspective")]

    def __str__(self) -> str:
        return f"{self.session_id}/{self.stimulus_id}/{self.perspective_id}={self.score}"


class Annotation(models.Model):
    """One trial's answer to one annotation task, stored with the trial's ratings (one transaction,
    the ratings' idempotency key). regions: `points` [[x, y], ...] normalised to [0, 1] of the
    image's width and height (origin top-left); words: `tokens`, indices into
    `analysis.stats.rich.tokenize_prompt(trial.prompt_shown)`. `nothing` is the explicit
    "nothing to mark" / "all words shown" answer (then the list is empty)."""

    session = models.ForeignKey(RatingSession, on_delete=models.CASCADE, related_name="annotations")
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="annotations", db_index=False)
    stimulus = models.ForeignKey(
        Stimulus, on_delete=models.CASCADE, related_name="annotations", db_index=False
    )
    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="annotations")
    kind = models.CharField(max_length=10, choices=Trial.Kind.choices)  # the trial's, as on Rating
    nothing = models.BooleanField(default=False)
    points = models.JSONField(default=list, blank=True)
    tokens = models.JSONField(default=list, blank=True)
    answered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "task"], name="one_annotation_per_trial_and_task"),
        ]
        indexes = [models.Index(fields=["stimulus", "task"], name="annotation_stimulus_task")]

    def __str__(self) -> str:
        return f"{self.trial_id}/{self.task_id}"


class StimulusLoad(models.Model):
    """Allocation counter of one test stimulus.

    `load` = test trials of live sessions not yet answered + answered test trials of participants
    who are not excluded (sessions not screened out). Balanced allocation takes the lowest loads;
    `shuffle` is re-drawn on every pick so that ties are broken at random by an index scan.
    """

    stimulus = models.OneToOneField(Stimulus, primary_key=True, on_delete=models.CASCADE, related_name="load")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    load = models.IntegerField(default=0)
    shuffle = models.FloatField(default=random_key)

    class Meta:
        indexes = [models.Index(fields=["study", "load", "shuffle"], name="stimulusload_pick")]

    def __str__(self) -> str:
        return f"load {self.load} of stimulus {self.stimulus_id}"


class StimulusSums(models.Model):
    """Running sums of one test stimulus' valid raw scores in one perspective (precision mode).

    Valid: test trials of non-pilot sessions that were not screened out, by participants the latest
    analysis did not exclude (the same ratings as `StimulusLoad` counts once answered). Kept by the
    submission path of precision studies and rebuilt by `allocation.stimulus_loads_recount`.
    Lock order: after the counters (`StimulusLoad`), rows in (stimulus, perspective) order.
    """

    stimulus = models.ForeignKey(Stimulus, on_delete=models.CASCADE, related_name="+", db_index=False)
    perspective = models.ForeignKey(Perspective, on_delete=models.CASCADE, related_name="+")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    n = models.IntegerField(default=0)
    s1 = models.FloatField(default=0.0)  # sum of scores
    s2 = models.FloatField(default=0.0)  # sum of squared scores

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stimulus", "perspective"], name="one_sums_row_per_perspective"),
        ]

    def __str__(self) -> str:
        return f"sums of stimulus {self.stimulus_id}/{self.perspective_id}: n={self.n}"
