"""Web UI routes of the mailqueue app: the e-mail queue, scheduled actions, today's quota."""

from django.urls import path

from mailqueue import views

app_name = "mailqueue"
urlpatterns = [
    path("", views.mail_list_view, name="list"),
    path("actions/", views.mail_action_view, name="action"),
    path("log/", views.delivery_log_view, name="log"),
    path("<int:mail_id>/", views.mail_detail_view, name="detail"),
    path("<int:mail_id>/eml/", views.mail_eml_view, name="eml"),
    path("crons/", views.cron_list_view, name="crons"),
    path("crons/interval/", views.cron_interval_view, name="cron_interval"),
    path("crons/run/", views.cron_run_view, name="cron_run"),
    path("quota/", views.quota_view, name="quota"),
]
