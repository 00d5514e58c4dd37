from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from experiments.admin import StudyScopedAdmin
from experiments.models import Study
from ratings.models import Annotation, Participant, Rating, RatingSession, StimulusLoad, Trial
from ratings.privacy import participant_forget


class SessionScopedAdmin(StudyScopedAdmin):
    """Rows that reach their study through their session."""

    study_path = "session__study"

    def _study_of(self, obj: Any) -> Study:
        return obj.session.study


@admin.action(description=_("Forget the panel id (privacy request; ratings are kept)"))
def forget_panel_ids(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Participant]
) -> None:
    forgotten = sum(participant_forget(participant=p).had_panel_id for p in queryset)
    modeladmin.message_user(
        request, _("Erased the panel id of %(n)d participant(s).") % {"n": forgotten}, messages.SUCCESS
    )


@admin.register(Participant)
class ParticipantAdmin(StudyScopedAdmin):
    list_display = ["code", "study", "panel", "external_id", "excluded_reason", "is_pilot", "created_at"]
    search_fields = ["code", "external_id"]
    actions = [forget_panel_ids]


@admin.register(RatingSession)
class RatingSessionAdmin(StudyScopedAdmin):
    list_display = ["pk", "study", "participant", "status", "current_index", "trial_count"]
    readonly_fields = ["participant"]  # a select would list every study's participants
    list_filter = ["status"]


@admin.register(Trial)
class TrialAdmin(SessionScopedAdmin):
    list_display = ["session", "index", "stimulus", "kind"]
    readonly_fields = ["session", "stimulus"]


@admin.register(Rating)
class RatingAdmin(SessionScopedAdmin):
    list_display = ["session", "stimulus", "perspective", "score", "kind", "server_time"]
    readonly_fields = ["session", "trial", "stimulus", "perspective"]


@admin.register(Annotation)
class AnnotationAdmin(SessionScopedAdmin):
    list_display = ["session", "stimulus", "task", "nothing", "kind", "answered_at"]
    list_filter = ["kind", "nothing"]
    readonly_fields = ["session", "trial", "stimulus", "task"]


@admin.register(StimulusLoad)
class StimulusLoadAdmin(StudyScopedAdmin):
    list_display = ["stimulus", "study", "load"]
    readonly_fields = ["stimulus"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter)]  # only the studies the user may see
