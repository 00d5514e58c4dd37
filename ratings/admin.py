from django.contrib import admin

from ratings.models import Participant, Rating, RatingSession, StimulusLoad, Trial


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["code", "study", "panel", "external_id", "excluded_reason", "is_pilot", "created_at"]
    search_fields = ["code", "external_id"]


@admin.register(RatingSession)
class RatingSessionAdmin(admin.ModelAdmin):
    list_display = ["pk", "study", "participant", "status", "current_index", "trial_count"]
    list_filter = ["status"]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["session", "index", "stimulus", "kind"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["session", "stimulus", "perspective", "score", "kind", "server_time"]


@admin.register(StimulusLoad)
class StimulusLoadAdmin(admin.ModelAdmin):
    list_display = ["stimulus", "study", "load"]
    list_filter = ["study"]
