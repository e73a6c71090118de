"""Public routes of campaign mail links (included at /mailing/): no login, signed tokens."""

from django.urls import path

from marketing import public_views

app_name = "mailing"
urlpatterns = [
    path("unsubscribe/<str:token>/", public_views.unsubscribe_view, name="unsubscribe"),
    path("unsubscribe/<str:token>/one-click/", public_views.unsubscribe_one_click_view, name="unsubscribe_one_click"),
    path("preferences/<str:token>/", public_views.preferences_view, name="preferences"),
    path("t/o/<str:token>.gif", public_views.track_open_view, name="track_open"),
    path("t/c/<str:token>/", public_views.track_click_view, name="track_click"),
]
