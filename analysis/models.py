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
    # Only pilot (simulated) participants: the pilot mode's own analysis, never mixed with real
    # data, and it never sets exclusions on real participants (see analysis.services._finish).
    pilot_only = models.BooleanField(default=False)
    # Raters whose sessions failed quality-control checks are listed and left out of the MOS.
    exclude_qc_failures = models.BooleanField(default=True)
    # raw_ratings.csv names raters by their panel id instead of our pseudonymous code.
    include_panel_ids = models.BooleanField(default=False)
    # The input snapshot: ratings with a larger id (submitted after the start) are not read, so a
    # re-execution after a crash sees the same ratings and writes the same files.
    rating_id_max = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)  # 0..1
    progress_message = models.CharField(max_length=200, blank=True)
    input_fingerprint = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)  # counts, rejected raters, reliability
    files = models.JSONField(default=list, blank=True)  # storage-relative paths of the result files
    timings = models.JSONField(default=dict, blank=True)  # seconds per step
    # Claim bookkeeping (see analysis.services.analysis_run_execute): the worker holding the run
    # writes only while `claim_token` is its own, and refreshes `heartbeat_at` as it goes; a run
    # "running" with an old heartbeat belongs to a dead worker and may be claimed again.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last successful publish to the broker
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["study", "status"], name="analysisrun_study_status")]

    def __str__(self) -> str:
        return f"{self.method} run {self.pk} of {self.study.slug} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def pilot_included(self) -> bool:
        """Pilot (simulated) data is in the input: such a run never sets exclusions, which drive
        allocation (analysis.services._finish); pages and analysis.json label it."""
        return self.include_pilot or self.pilot_only

    @property
    def storage_dir(self) -> str:
        """Folder of the run's files in the default storage."""
        return f"analysis/{self.study.slug}/run-{self.pk}"

    @property
    def zip_name(self) -> str:
        return f"{self.study.slug}-run-{self.pk}.zip"


from analysis.benchmark.models import MetricBenchmark  # noqa: E402,F401 - registers the model of issue 18
