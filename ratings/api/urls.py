app_name = "ratings-api"

urlpatterns: list = []
