from django.urls import path

from experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.study_list, name="study-list"),
    path("<slug:slug>/", views.study_detail, name="study-detail"),
]
