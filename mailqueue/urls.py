"""Web UI routes of the mailqueue app: the e-mail queue and its downloads, scheduled actions, today's quota."""

from django.urls import path

from mailqueue import views

app_name = "mailqueue"
urlpatterns = [
    path("", views.mail_list_view, name="list"),
    path("actions/", views.mail_action_view, name="action"),
    path("log/", views.delivery_log_view, name="log"),
    path("<int:mail_id>/", views.mail_detail_view, name="detail"),
    path("<int:mail_id>/eml/", views.mail_eml_view, name="eml"),
    path("<int:mail_id>/support/", views.support_bundle_view, name="support_bundle"),
    path("deliveries/<int:log_id>/eml/", views.delivery_eml_view, name="delivery_eml"),
    # The chatter's envelope knows notifications, not rows: these take a notification id.
    path("notifications/<int:notification_id>/eml/", views.notification_eml_view, name="notification_eml"),
    path(
        "notifications/<int:notification_id>/support/",
        views.notification_support_bundle_view,
        name="notification_support_bundle",
    ),
    path("crons/", views.cron_list_view, name="crons"),
    path("crons/interval/", views.cron_interval_view, name="cron_interval"),
    path("crons/run/", views.cron_run_view, name="cron_run"),
    path("quota/", views.quota_view, name="quota"),
]
