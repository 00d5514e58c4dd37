from django.urls import path

from analysis.api import views
from analysis.benchmark import api as benchmark_api

app_name = "analysis-api"

urlpatterns = [
    path("studies/<slug:slug>/analysis-runs/", views.StudyAnalysisRunsApi.as_view(), name="study-runs"),
    path("analysis-runs/<int:pk>/", views.AnalysisRunDetailApi.as_view(), name="run-detail"),
    path("analysis-runs/<int:pk>/files/<path:path>", views.AnalysisRunFileApi.as_view(), name="run-file"),
]

urlpatterns += benchmark_api.urlpatterns  # metric benchmarks (issue 18)
