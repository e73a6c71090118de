"""Web UI routes of the bounces app: the inbound log."""

from django.urls import path

from bounces import views

app_name = "bounces"
urlpatterns = [
    path("", views.inbound_list_view, name="inbound_list"),
    path("<int:pk>/", views.inbound_detail_view, name="inbound_detail"),
    path("<int:pk>/eml/", views.inbound_eml_view, name="inbound_eml"),
]
