from django.urls import path

from ratings import views

app_name = "ratings"

urlpatterns = [
    path("<slug:slug>/", views.study_entry, name="study-entry"),
]
