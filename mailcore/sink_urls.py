"""Routes of the local outgoing SMTP sink viewer (embedded default)."""

from django.urls import path

from mailcore import sink

app_name = "sink"
urlpatterns = [
    path("", sink.sink_list_view, name="list"),
    path("clear/", sink.sink_clear_view, name="clear"),
    path("<str:name>/", sink.sink_detail_view, name="detail"),
    path("<str:name>/raw/", sink.sink_raw_view, name="raw"),
]
