from django.urls import path

from experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.study_list, name="study-list"),
    path("new/", views.study_create, name="study-create"),
    path("<slug:slug>/", views.study_detail, name="study-detail"),
    path("<slug:slug>/edit/", views.study_edit, name="study-edit"),
    path("<slug:slug>/launch/", views.study_launch, name="study-launch"),
    path("<slug:slug>/pause/", views.study_pause, name="study-pause"),
    path("<slug:slug>/close/", views.study_close, name="study-close"),
    path("<slug:slug>/sharing/", views.study_sharing, name="study-sharing"),
    path("<slug:slug>/sharing/<int:user_id>/remove/", views.study_unshare, name="study-unshare"),
    path("<slug:slug>/duplicate/", views.study_duplicate, name="study-duplicate"),
    path("<slug:slug>/archive/", views.study_archive, name="study-archive"),
    path("<slug:slug>/stimuli/", views.stimulus_list, name="stimulus-list"),
    path("<slug:slug>/preview/", views.study_preview, name="study-preview"),
    path("<slug:slug>/imports/new/", views.stimulus_import_create, name="import-create"),
    path("<slug:slug>/imports/<int:pk>/", views.stimulus_import_detail, name="import-detail"),
    path("<slug:slug>/imports/<int:pk>/status.json", views.stimulus_import_status, name="import-status"),
    path("<slug:slug>/dashboard/", views.study_dashboard_page, name="study-dashboard"),
    path("<slug:slug>/dashboard/pay/", views.study_pay, name="study-pay"),
    path("<slug:slug>/dashboard.json", views.study_dashboard_json, name="study-dashboard-json"),
]
