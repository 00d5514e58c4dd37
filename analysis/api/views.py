"""JSON endpoints of analysis runs: start and list per study, status, file download."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.api.serializers import AnalysisRunOutputSerializer
from analysis.exceptions import JobQueueUnavailable
from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_get_for_user, analysis_run_list
from analysis.services import analysis_run_start
from analysis.stats import DEFAULT_METHOD, METHODS
from analysis.views import file_response
from config.auth import authenticated_user
from config.pagination import BoundedLimitOffsetPagination
from experiments.selectors import study_get_for_user

QueueUnavailableSerializer = inline_serializer(
    "AnalysisQueueUnavailable",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "run": AnalysisRunOutputSerializer(),
    },
)


class StudyAnalysisRunsApi(APIView):
    """List the analysis runs of a study, or start a new one."""

    class InputSerializer(serializers.Serializer):
        method = serializers.ChoiceField(choices=sorted(METHODS), default=DEFAULT_METHOD)
        parameters = serializers.DictField(
            child=serializers.JSONField(),
            required=False,
            default=dict,
            help_text="Method parameters; missing ones take the method's defaults.",
        )
        include_pilot = serializers.BooleanField(default=False)
        exclude_qc_failures = serializers.BooleanField(default=True)
        include_panel_ids = serializers.BooleanField(default=False)

    @extend_schema(operation_id="analysis_runs_list", responses=AnalysisRunOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        study = study_get_for_user(user=request.user, slug=slug)
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(analysis_run_list(study=study), request, view=self)
        return paginator.get_paginated_response(AnalysisRunOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="analysis_runs_start",
        request=InputSerializer,
        responses={
            202: AnalysisRunOutputSerializer,
            400: OpenApiResponse(description="Unknown method or invalid parameters"),
            503: QueueUnavailableSerializer,
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        study = study_get_for_user(user=request.user, slug=slug, change=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = analysis_run_start(
                study=study, user=authenticated_user(request), **serializer.validated_data
            )
        except JobQueueUnavailable as exc:
            run = AnalysisRun.objects.get(pk=exc.run_id)
            body = {"detail": str(exc), "code": exc.code, "run": AnalysisRunOutputSerializer(run).data}
            return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        run.refresh_from_db()
        return Response(AnalysisRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AnalysisRunDetailApi(APIView):
    """Status, parameters, summary and file list of one run."""

    @extend_schema(operation_id="analysis_run_retrieve", responses=AnalysisRunOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        run = analysis_run_get_for_user(user=request.user, run_id=pk)
        return Response(AnalysisRunOutputSerializer(run).data)


class AnalysisRunFileApi(APIView):
    """Download one result file of a done run (the zip is `<study>-run-<id>.zip`)."""

    @extend_schema(
        operation_id="analysis_run_file",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such file"),
        },
    )
    def get(self, request: Request, pk: int, path: str) -> FileResponse:
        run = analysis_run_get_for_user(user=request.user, run_id=pk)
        return file_response(run, path)
