"""JSON endpoints of metric benchmarks: upload and list per run, results, file download."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.benchmark.models import MetricBenchmark
from analysis.benchmark.selectors import (
    metric_benchmark_get_for_user,
    metric_benchmark_list,
    metric_benchmark_relative_files,
)
from analysis.benchmark.services import metric_benchmark_start
from analysis.benchmark.views import benchmark_file_response
from analysis.selectors import analysis_run_get_for_user
from config.pagination import BoundedLimitOffsetPagination


class BenchmarkFileSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Path inside the benchmark folder, e.g. results.tex")
    url = serializers.CharField(help_text="API URL that downloads the file")


class MetricBenchmarkOutputSerializer(serializers.ModelSerializer):
    files = serializers.SerializerMethodField()
    results = serializers.JSONField(
        read_only=True,
        help_text=(
            "The result document (format metric-benchmark-1): `results` (one row per perspective, metric "
            "and group with srcc, krcc, plcc, rmse and their *_low/*_high CI), `best` (perspective -> "
            "column -> metric), `comparisons` (paired bootstrap test of |SRCC| differences), `fits` "
            "(logistic parameters), `parameters` and `notes`. Empty until the benchmark is done."
        ),
    )

    class Meta:
        model = MetricBenchmark
        fields = [
            "id",
            "run",
            "status",
            "error",
            "predictions_name",
            "metrics",
            "parameters",
            "results",
            "files",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(BenchmarkFileSerializer(many=True))
    def get_files(self, bench: MetricBenchmark) -> list[dict[str, Any]]:
        if bench.status != MetricBenchmark.Status.DONE:
            return []
        return [
            {
                "name": name,
                "url": reverse("analysis-api:benchmark-file", kwargs={"pk": bench.pk, "path": name}),
            }
            for name in metric_benchmark_relative_files(benchmark=bench)
        ]


class MetricBenchmarkStartSerializer(serializers.Serializer):
    """Upload of a predictions CSV (multipart)."""

    predictions = serializers.FileField(
        help_text="CSV with columns stimulus (file name or position), metric, score, optionally split."
    )
    n_boot = serializers.IntegerField(min_value=0, max_value=10_000, default=1000)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    refit_bootstrap = serializers.BooleanField(
        default=False, help_text="Refit the logistic on every bootstrap resample (slower)."
    )


class RunBenchmarksApi(APIView):
    """List the metric benchmarks of an analysis run, or upload predictions to benchmark."""

    parser_classes = [MultiPartParser, FormParser]

    InputSerializer = MetricBenchmarkStartSerializer

    @extend_schema(
        operation_id="metric_benchmarks_list", responses=MetricBenchmarkOutputSerializer(many=True)
    )
    def get(self, request: Request, pk: int) -> Response:
        run = analysis_run_get_for_user(user=request.user, run_id=pk)
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(metric_benchmark_list(run=run), request, view=self)
        return paginator.get_paginated_response(MetricBenchmarkOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="metric_benchmarks_start",
        request={"multipart/form-data": InputSerializer},
        responses={
            202: MetricBenchmarkOutputSerializer,
            400: OpenApiResponse(
                description="The run is not done, or the predictions are invalid (one line)"
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        run = analysis_run_get_for_user(user=request.user, run_id=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.pop("predictions")
        bench = metric_benchmark_start(
            run=run, content=upload.read(), filename=upload.name, user=request.user, **data
        )
        bench.refresh_from_db()
        return Response(MetricBenchmarkOutputSerializer(bench).data, status=status.HTTP_202_ACCEPTED)


class MetricBenchmarkDetailApi(APIView):
    """Status, parameters and results of one metric benchmark."""

    @extend_schema(operation_id="metric_benchmark_retrieve", responses=MetricBenchmarkOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        bench = metric_benchmark_get_for_user(user=request.user, benchmark_id=pk)
        return Response(MetricBenchmarkOutputSerializer(bench).data)


class MetricBenchmarkFileApi(APIView):
    """Download one result file of a done benchmark (results.csv, results.json, results.tex, ...)."""

    @extend_schema(
        operation_id="metric_benchmark_file",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such file"),
        },
    )
    def get(self, request: Request, pk: int, path: str) -> FileResponse:
        bench = metric_benchmark_get_for_user(user=request.user, benchmark_id=pk)
        return benchmark_file_response(bench, path)


urlpatterns = [
    path("analysis-runs/<int:pk>/benchmarks/", RunBenchmarksApi.as_view(), name="run-benchmarks"),
    path("benchmarks/<int:pk>/", MetricBenchmarkDetailApi.as_view(), name="benchmark-detail"),
    path("benchmarks/<int:pk>/files/<path:path>", MetricBenchmarkFileApi.as_view(), name="benchmark-file"),
]
