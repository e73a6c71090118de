"""Routes of the local outgoing SMTP sink viewer (embedded default)."""

app_name = "sink"
urlpatterns: list = []
