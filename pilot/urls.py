from django.urls import path

from pilot import views as pilot_views

app_name = "pilot"

urlpatterns = [
    path("<slug:slug>/pilot/", pilot_views.pilot_list, name="list"),
    path("<slug:slug>/pilot/remove/", pilot_views.pilot_remove, name="remove"),
    path("<slug:slug>/pilot/<int:pk>/", pilot_views.pilot_detail, name="detail"),
    path("<slug:slug>/pilot/<int:pk>/status.json", pilot_views.pilot_status, name="status"),
    path("<slug:slug>/pilot/<int:pk>/plot.png", pilot_views.pilot_plot, name="plot"),
    path("<slug:slug>/pilot/<int:pk>/modes.png", pilot_views.pilot_modes_plot, name="modes-plot"),
]
