"""Routes of the e-mail diagnostics pages."""

app_name = "diagnostics"
urlpatterns: list = []
