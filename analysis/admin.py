from django.contrib import admin

from analysis.models import AnalysisRun


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = ["study", "method", "status", "progress", "created_at"]
    list_filter = ["status", "method"]
