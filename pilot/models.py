"""The pilot's one model: a dry run of a study with simulated participants."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from experiments.models import Study


class PilotRun(models.Model):
    """A dry run of a study with simulated participants (pilot.services, pilot.simulator).

    Its participants are flagged `is_pilot` (and found again by their panel id, listed in
    `planted`); its analysis uses pilot data only. `report` compares the recovered MOS with the
    planted truth and the raters the screening caught with the planted spammers.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Simulating")
        ANALYSING = "analysing", _("Analysing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="pilot_runs")
    raters = models.PositiveIntegerField()
    seed = models.BigIntegerField(default=0)
    spammers = models.FloatField(default=0.1)
    straightliners = models.FloatField(default=0.05)
    abandoners = models.FloatField(default=0.05)
    noise = models.FloatField(
        default=0.5, help_text=_("Typical inconsistency of honest raters, in scale points")
    )
    difficulty = models.FloatField(
        default=0.0, help_text=_("Spread of the images' difficulty (log-SD of a noise multiplier)")
    )
    compare_modes = models.BooleanField(
        default=False, help_text=_("Also simulate the whole study in balanced and precision allocation")
    )
    base_url = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    planted = models.JSONField(default=list, blank=True)  # one entry per simulated rater
    simulation = models.JSONField(default=dict, blank=True)  # the simulator's figures
    report = models.JSONField(default=dict, blank=True)  # recovery, screening, target reach, modes
    plot = models.CharField(max_length=255, blank=True)  # storage name of the scatter plot PNG
    analysis_run = models.ForeignKey(
        "analysis.AnalysisRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last successful publish to the broker

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(raters__gte=1), name="pilot_has_raters"),
        ]

    def __str__(self) -> str:
        return f"pilot {self.pk} of {self.study_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def storage_dir(self) -> str:
        return f"pilot/{self.study.slug}/pilot-{self.pk}"
