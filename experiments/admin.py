from django.contrib import admin

from experiments.models import Perspective, Stimulus, StimulusImport, Study


class PerspectiveInline(admin.TabularInline):
    model = Perspective
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "status", "owner", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    inlines = [PerspectiveInline]


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
    list_display = ["study", "position", "name", "generator", "role"]
    list_filter = ["role"]
    search_fields = ["name", "prompt"]


@admin.register(StimulusImport)
class StimulusImportAdmin(admin.ModelAdmin):
    list_display = ["study", "kind", "status", "imported_count", "created_at"]
