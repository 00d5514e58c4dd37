"""Pages of metric benchmarks; added to the ``analysis`` namespace by analysis/urls.py."""

from django.urls import path

from analysis.benchmark import views

urlpatterns = [
    path("runs/<int:pk>/benchmarks/", views.benchmark_list, name="benchmark-list"),
    path("runs/<int:pk>/splits.csv", views.run_splits, name="run-splits"),
    path("benchmarks/<int:pk>/", views.benchmark_detail, name="benchmark-detail"),
    path("benchmarks/<int:pk>/status.json", views.benchmark_status, name="benchmark-status"),
    path("benchmarks/<int:pk>/files/<path:path>", views.benchmark_file, name="benchmark-file"),
]
