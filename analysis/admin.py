from django.contrib import admin

from analysis.models import AnalysisRun
from experiments.admin import StudyScopedAdmin


@admin.register(AnalysisRun)
class AnalysisRunAdmin(StudyScopedAdmin):
    list_display = ["study", "method", "status", "progress", "created_at"]
    list_filter = ["status", "method"]
