app_name = "analysis-api"

urlpatterns: list = []
