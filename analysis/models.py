"""What the ratings mean: one analysis run of a study, its parameters, status and files."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from experiments.models import Study


class AnalysisRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analysis_runs")
    method = models.CharField(max_length=40)
    method_version = models.CharField(max_length=20, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    include_pilot = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)  # 0..1
    progress_message = models.CharField(max_length=200, blank=True)
    input_fingerprint = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)  # counts, rejected raters, reliability
    files = models.JSONField(default=list, blank=True)  # storage-relative paths of the result files
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["study", "status"], name="analysisrun_study_status")]

    def __str__(self) -> str:
        return f"{self.method} run {self.pk} of {self.study.slug} ({self.status})"
