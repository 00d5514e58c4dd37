"""A benchmark of quality metrics against the MOS of one finished analysis run (issue 18).

The uploaded predictions and the result files live in the default storage next to the run's
own files, under ``<run folder>/benchmarks/<id>/``; the result document (the figures the page
and the API show) is kept in ``results``.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class MetricBenchmark(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey("analysis.AnalysisRun", on_delete=models.CASCADE, related_name="benchmarks")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    predictions_name = models.CharField(max_length=255, help_text=_("Uploaded file name"))
    predictions = models.CharField(max_length=500, blank=True, help_text=_("Storage name of the upload"))
    metrics = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=dict, blank=True)
    files = models.JSONField(default=list, blank=True)  # storage names of the result files
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # The sweep (`metric_benchmarks_sweep`) publishes again what the queue never got, and takes
    # back a benchmark whose worker died while computing (at most MAX_ATTEMPTS claims).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"benchmark {self.pk} of run {self.run_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def storage_dir(self) -> str:
        base = self.run.summary.get("storage_dir", self.run.storage_dir)
        return f"{base}/benchmarks/{self.pk}"
