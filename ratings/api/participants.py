"""The researcher's participants API: list with filters, panel decisions, exports, forgetting.

Access: anyone who may see the study (owner, collaborator) reads the list, sets decisions and
downloads exports; only the owner may forget a participant.
"""

from typing import Any

from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments.selectors import study_get_for_user
from ratings.decisions import EXPORT_KINDS, decisions_export, participant_decision_set
from ratings.participants import (
    DECISION_LABELS,
    SORTS,
    ParticipantRow,
    ParticipantStatus,
    participant_get,
    participant_row,
    participant_rows,
    user_owns_study,
)
from ratings.privacy import participant_forget

SORT_CHOICES = [*SORTS, *(f"-{k}" for k in SORTS)]


class ParticipantOutputSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Our pseudonymous participant code")
    panel = serializers.CharField(help_text="The panel the participant entered through")
    panel_id = serializers.CharField(help_text="The panel's id of the participant; empty once forgotten")
    status = serializers.ChoiceField(choices=ParticipantStatus.CHOICES)
    status_display = serializers.CharField()
    sessions = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    time_spent_seconds = serializers.IntegerField()
    trials_answered = serializers.IntegerField()
    trials_total = serializers.IntegerField()
    qc_failures = serializers.ListField(
        child=serializers.CharField(), help_text="Failed checks, one per failure"
    )
    excluded_reason = serializers.CharField(help_text="Why the latest analysis of real data excluded them")
    completion_code = serializers.CharField()
    suggested_decision = serializers.CharField(help_text="approve, reject or none (no decision yet)")
    suggested_reason = serializers.CharField()
    decision = serializers.ChoiceField(
        choices=list(DECISION_LABELS), help_text="The override, else the suggestion"
    )
    message = serializers.CharField(help_text="The reason sent to the panel with the decision")
    is_overridden = serializers.BooleanField()
    decided_at = serializers.DateTimeField(allow_null=True)


class ParticipantFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ParticipantStatus.CHOICES, required=False)
    decision = serializers.ChoiceField(choices=list(DECISION_LABELS), required=False)
    q = serializers.CharField(required=False, max_length=128)
    sort = serializers.ChoiceField(choices=SORT_CHOICES, required=False, default="-started")


class ParticipantDecisionInputSerializer(serializers.Serializer):
    decision = serializers.CharField(
        allow_blank=True, max_length=10, help_text='approve, reject, or "" to follow the suggestion again'
    )
    message = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ParticipantForgetInputSerializer(serializers.Serializer):
    delete_ratings = serializers.BooleanField(default=False)


class ParticipantForgetOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    had_panel_id = serializers.BooleanField()
    ratings_deleted = serializers.IntegerField()


class ParticipantListApi(generics.ListAPIView):
    """The study's real participants (pilots left out), newest first by default."""

    serializer_class = ParticipantOutputSerializer

    def get_queryset(self) -> list[ParticipantRow]:  # type: ignore[override]
        study = study_get_for_user(user=self.request.user, slug=self.kwargs["slug"])
        filters = ParticipantFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return participant_rows(study=study, **filters.validated_data)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[k for k, _ in ParticipantStatus.CHOICES]),
            OpenApiParameter(
                "decision", str, enum=list(DECISION_LABELS), description="The effective decision"
            ),
            OpenApiParameter("q", str, description="Part of a panel id or participant code"),
            OpenApiParameter("sort", str, enum=SORT_CHOICES, description="A leading - sorts descending"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ParticipantDecisionApi(APIView):
    @extend_schema(
        request=ParticipantDecisionInputSerializer,
        responses={
            200: ParticipantOutputSerializer,
            400: OpenApiResponse(description="Rejection without message"),
        },
        description="Override the suggested panel decision; a rejection needs a message for the participant.",
    )
    def post(self, request: Request, slug: str, code: str) -> Response:
        study = study_get_for_user(user=request.user, slug=slug, change=True)
        participant = participant_get(study=study, code=code)
        serializer = ParticipantDecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        participant_decision_set(participant=participant, **serializer.validated_data)
        return Response(ParticipantOutputSerializer(participant_row(study=study, code=code)).data)


class ParticipantForgetApi(APIView):
    @extend_schema(
        request=ParticipantForgetInputSerializer,
        responses={
            200: ParticipantForgetOutputSerializer,
            403: OpenApiResponse(description="Only the study's owner may forget"),
        },
        description="Erase the participant's panel id and panel data (the pseudonymous ratings stay); "
        "with delete_ratings, delete the participant and their ratings too. Owner only.",
    )
    def post(self, request: Request, slug: str, code: str) -> Response:
        study = study_get_for_user(user=request.user, slug=slug)
        participant = participant_get(study=study, code=code)
        if not user_owns_study(request.user, study):
            raise PermissionDenied(_("Only the study's owner may forget a participant."))
        serializer = ParticipantForgetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = participant_forget(participant=participant, **serializer.validated_data)
        return Response(ParticipantForgetOutputSerializer(result).data)


class ParticipantExportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(EXPORT_KINDS))],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "text/plain"): OpenApiTypes.STR,
            404: OpenApiResponse(description="No such study or export"),
        },
        description="The panel decisions ready for the panel: prolific-approve (ids, one a line), "
        "prolific-reject (id, message), mturk (batch results with Approve/Reject), csv (everything).",
    )
    def get(self, request: Request, slug: str, kind: str) -> HttpResponse:
        study = study_get_for_user(user=request.user, slug=slug)
        if kind not in EXPORT_KINDS:
            raise Http404("No such export")
        name, content_type, text = decisions_export(study=study, kind=kind)
        response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"  # panel ids
        return response
