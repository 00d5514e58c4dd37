"""Output shape of an analysis run in the API."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_relative_files
from experiments.models import Study


class RunFileSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Path inside the run folder, e.g. DATA/MOS/mosz1.mat")
    url = serializers.CharField(help_text="API URL that downloads the file")


class AnalysisRunOutputSerializer(serializers.ModelSerializer):
    study: serializers.SlugRelatedField[Study] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    pilot_included = serializers.BooleanField(
        read_only=True, help_text="Pilot data is in the input: the run sets no exclusions"
    )
    files = serializers.SerializerMethodField()

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "study",
            "method",
            "method_version",
            "parameters",
            "include_pilot",
            "pilot_included",
            "exclude_qc_failures",
            "include_panel_ids",
            "status",
            "progress",
            "progress_message",
            "error",
            "input_fingerprint",
            "summary",
            "timings",
            "files",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RunFileSerializer(many=True))
    def get_files(self, run: AnalysisRun) -> list[dict[str, Any]]:
        if run.status != AnalysisRun.Status.DONE:
            return []
        return [
            {"name": name, "url": reverse("analysis-api:run-file", kwargs={"pk": run.pk, "path": name})}
            for name in analysis_run_relative_files(run=run)
        ]
