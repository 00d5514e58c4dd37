"""The experiments API: thin views; access by experiments.selectors, writes by experiments.services."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.auth import authenticated_user
from experiments import selectors, services
from experiments.api.serializers import (
    DashboardOutputSerializer,
    StimulusImportCreateInputSerializer,
    StimulusImportOutputSerializer,
    StimulusOutputSerializer,
    StudyCreateInputSerializer,
    StudyDuplicateInputSerializer,
    StudyOutputSerializer,
    StudyUpdateInputSerializer,
)
from experiments.dashboard import study_dashboard
from experiments.exceptions import ImportQueueUnavailable
from experiments.models import Stimulus, Study


def _split_update(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Study fields, and the lists the service takes apart (perspectives, annotation_tasks)."""
    fields = dict(data)
    lists = {name: fields.pop(name, None) for name in ("perspectives", "annotation_tasks")}
    return fields, lists


class StudyListCreateApi(generics.ListAPIView):
    """Studies you own or collaborate on; POST creates a draft with the AIGCIQA2023 preset."""

    serializer_class = StudyOutputSerializer

    def get_queryset(self) -> QuerySet[Study]:
        return (
            selectors.study_list_for_user(user=self.request.user)
            .select_related("owner")
            .prefetch_related("collaborators", "viewers", "perspectives", "annotation_tasks")
            .order_by("-created_at")
        )

    @extend_schema(request=StudyCreateInputSerializer, responses={201: StudyOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = StudyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields, lists = _split_update(serializer.validated_data)
        title = fields.pop("title")
        study = services.study_create_configured(
            owner=authenticated_user(request), title=title, fields=fields, **lists
        )
        return Response(StudyOutputSerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailApi(APIView):
    @extend_schema(responses=StudyOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug)
        return Response(StudyOutputSerializer(study).data)

    @extend_schema(
        request=StudyUpdateInputSerializer,
        responses=StudyOutputSerializer,
        description="Change settings, scale, perspectives and annotation tasks. Trial-design changes of a study with "
        "ratings are refused with 409 (code trial_design_locked); wording changes are allowed.",
    )
    def patch(self, request: Request, slug: str) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
        serializer = StudyUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields, lists = _split_update(serializer.validated_data)
        study = services.study_update(study=study, fields=fields, **lists)
        return Response(StudyOutputSerializer(study).data)


class _StudyStatusApi(APIView):
    status_service: Any = None

    @extend_schema(request=None, responses=StudyOutputSerializer)
    def post(self, request: Request, slug: str) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
        study = type(self).status_service(study=study)
        return Response(StudyOutputSerializer(study).data)


class StudyLaunchApi(_StudyStatusApi):
    """Open a draft or paused study (needs test stimuli)."""

    status_service = staticmethod(services.study_launch)


class StudyPauseApi(_StudyStatusApi):
    status_service = staticmethod(services.study_pause)


class StudyCloseApi(_StudyStatusApi):
    status_service = staticmethod(services.study_close)


class StudyDuplicateApi(APIView):
    @extend_schema(
        request=StudyDuplicateInputSerializer,
        responses={201: StudyOutputSerializer},
        description="A new draft study of yours with this study's settings, perspectives, texts and "
        "questionnaire; with copy_stimuli, its stimuli too. Ratings and shares are not copied.",
    )
    def post(self, request: Request, slug: str) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug)
        serializer = StudyDuplicateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy = services.study_duplicate(study=study, owner=request.user, **serializer.validated_data)
        return Response(StudyOutputSerializer(copy).data, status=status.HTTP_201_CREATED)


class StimulusListApi(generics.ListAPIView):
    serializer_class = StimulusOutputSerializer

    def get_queryset(self) -> QuerySet[Stimulus]:
        study = selectors.study_get_for_user(user=self.request.user, slug=self.kwargs["slug"])
        role = self.request.query_params.get("role", "")
        return selectors.stimulus_list(study=study, role=role if role in Stimulus.Role.values else "")


class StimulusDetailApi(APIView):
    @extend_schema(responses=StimulusOutputSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug)
        return Response(StimulusOutputSerializer(selectors.stimulus_get(study=study, pk=pk)).data)


class StimulusImportCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request=StimulusImportCreateInputSerializer,
        responses={
            202: StimulusImportOutputSerializer,
            503: OpenApiResponse(description="Saved as pending; the job queue is down (queued later)"),
        },
        description="Upload a zip; it is validated and imported by a background job. Poll the import "
        "until its status is done or failed (failed lists every problem; nothing is imported).",
    )
    def post(self, request: Request, slug: str) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
        serializer = StimulusImportCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            stimulus_import = services.stimulus_import_create(
                study=study,
                user=authenticated_user(request),
                upload=serializer.validated_data["archive"],
                kind=serializer.validated_data["kind"],
            )
        except ImportQueueUnavailable as exc:
            saved = selectors.stimulus_import_get(study=study, pk=exc.import_id)
            body = {
                "detail": str(exc),
                "code": exc.code,
                "import": StimulusImportOutputSerializer(saved).data,
            }
            return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(StimulusImportOutputSerializer(stimulus_import).data, status=status.HTTP_202_ACCEPTED)


class StimulusImportDetailApi(APIView):
    @extend_schema(responses=StimulusImportOutputSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug)
        return Response(
            StimulusImportOutputSerializer(selectors.stimulus_import_get(study=study, pk=pk)).data
        )


class StudyDashboardApi(APIView):
    @extend_schema(responses=DashboardOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        study = selectors.study_get_for_user(user=request.user, slug=slug)
        return Response(DashboardOutputSerializer(study_dashboard(study=study).as_dict()).data)
