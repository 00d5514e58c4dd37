"""Admin for every experiments model; staff who are not superusers see only their own studies."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from experiments.models import AnnotationTask, Perspective, Stimulus, StimulusImport, Study
from experiments.selectors import study_list_for_user, user_can_access_study


class StudyScopedAdmin(admin.ModelAdmin):
    """Limits rows, object permissions and study choices with the one access rule."""

    study_path = "study"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.study_path}__in": study_list_for_user(user=request.user)})

    def _study_of(self, obj: Any) -> Study:
        return obj if isinstance(obj, Study) else obj.study

    def _allowed(self, request: HttpRequest, obj: Any | None, change: bool = False) -> bool:
        return obj is None or user_can_access_study(
            user=request.user, study=self._study_of(obj), change=change
        )

    def has_view_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._allowed(request, obj, change=True)

    def has_delete_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._allowed(request, obj, change=True)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "study" and not request.user.is_superuser:
            kwargs["queryset"] = study_list_for_user(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PerspectiveInline(admin.TabularInline):
    model = Perspective
    extra = 0


class AnnotationTaskInline(admin.TabularInline):
    model = AnnotationTask
    extra = 0


@admin.register(Study)
class StudyAdmin(StudyScopedAdmin):
    study_path = "pk"
    list_display = ["title", "slug", "status", "owner", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    filter_horizontal = ["collaborators", "viewers"]
    inlines = [PerspectiveInline, AnnotationTaskInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = admin.ModelAdmin.get_queryset(self, request)
        return (
            qs
            if request.user.is_superuser
            else qs.filter(pk__in=study_list_for_user(user=request.user).values("pk"))
        )


@admin.register(Perspective)
class PerspectiveAdmin(StudyScopedAdmin):
    list_display = ["study", "order", "key", "label"]
    search_fields = ["key", "label", "study__slug"]


@admin.register(AnnotationTask)
class AnnotationTaskAdmin(StudyScopedAdmin):
    list_display = ["study", "order", "key", "kind", "label"]
    list_filter = ["kind"]
    search_fields = ["key", "label", "study__slug"]


@admin.register(Stimulus)
class StimulusAdmin(StudyScopedAdmin):
    list_display = ["study", "position", "name", "generator", "role", "width", "height"]
    list_filter = ["role"]
    search_fields = ["name", "prompt", "study__slug"]
    list_select_related = ["study"]
    readonly_fields = ["sha256", "width", "height", "format", "image"]


@admin.register(StimulusImport)
class StimulusImportAdmin(StudyScopedAdmin):
    list_display = ["study", "kind", "status", "imported_count", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["study"]
    readonly_fields = ["source", "progress", "problems", "started_at", "finished_at"]
