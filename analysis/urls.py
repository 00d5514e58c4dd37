from django.urls import path

from analysis import views
from analysis.benchmark import urls as benchmark_urls

app_name = "analysis"

urlpatterns = [
    path("studies/<slug:slug>/runs/", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/status.json", views.run_status, name="run-status"),
    path("runs/<int:pk>/files/<path:path>", views.run_file, name="run-file"),
]

urlpatterns += benchmark_urls.urlpatterns  # metric benchmarks (issue 18)
