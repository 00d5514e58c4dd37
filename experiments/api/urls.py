from django.urls import path

from experiments.api import views

app_name = "experiments-api"

urlpatterns = [
    path("studies/", views.StudyListCreateApi.as_view(), name="study-list"),
    path("studies/<slug:slug>/", views.StudyDetailApi.as_view(), name="study-detail"),
    path("studies/<slug:slug>/launch/", views.StudyLaunchApi.as_view(), name="study-launch"),
    path("studies/<slug:slug>/pause/", views.StudyPauseApi.as_view(), name="study-pause"),
    path("studies/<slug:slug>/close/", views.StudyCloseApi.as_view(), name="study-close"),
    path("studies/<slug:slug>/duplicate/", views.StudyDuplicateApi.as_view(), name="study-duplicate"),
    path("studies/<slug:slug>/stimuli/", views.StimulusListApi.as_view(), name="stimulus-list"),
    path("studies/<slug:slug>/stimuli/<int:pk>/", views.StimulusDetailApi.as_view(), name="stimulus-detail"),
    path("studies/<slug:slug>/imports/", views.StimulusImportCreateApi.as_view(), name="import-create"),
    path(
        "studies/<slug:slug>/imports/<int:pk>/", views.StimulusImportDetailApi.as_view(), name="import-detail"
    ),
    path("studies/<slug:slug>/dashboard/", views.StudyDashboardApi.as_view(), name="study-dashboard"),
]
