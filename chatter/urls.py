"""Web UI routes of the chatter app: records, the chatter, the inbox, failures, preferences."""

from django.urls import path

from chatter import views, views_chatter, views_inbox

app_name = "chatter"
urlpatterns = [
    path("", views.home_view, name="home"),
    path("inbox/", views_inbox.inbox_view, name="inbox"),
    path("inbox/read-all/", views_inbox.inbox_mark_all_read_view, name="inbox_read_all"),
    path("inbox/<int:notification_id>/read/", views_inbox.inbox_mark_read_view, name="inbox_read"),
    path("inbox/<int:notification_id>/open/", views_inbox.inbox_open_view, name="inbox_open"),
    path("failures/", views_inbox.failures_view, name="failures"),
    path("preferences/", views_inbox.preferences_view, name="preferences"),
    # The link outgoing mail carries (mailqueue.services.render_notification_body).
    path("records/<int:content_type_id>/<int:pk>/", views.record_by_content_type_view, name="record_by_content_type"),
    path("chatter/<int:content_type_id>/<int:pk>/post/", views_chatter.message_post_view, name="message_post"),
    path("chatter/<int:content_type_id>/<int:pk>/messages/", views_chatter.message_page_view, name="message_page"),
    path("chatter/<int:content_type_id>/<int:pk>/followers/", views_chatter.followers_view, name="followers"),
    path(
        "chatter/<int:content_type_id>/<int:pk>/followers/<int:follower_id>/remove/",
        views_chatter.follower_remove_view,
        name="follower_remove",
    ),
    path(
        "chatter/<int:content_type_id>/<int:pk>/followers/<int:follower_id>/subtypes/",
        views_chatter.follower_subtypes_view,
        name="follower_subtypes",
    ),
    path("chatter/messages/<int:message_id>/envelope/", views_chatter.envelope_view, name="envelope"),
    path("chatter/messages/<int:message_id>/resend/", views_chatter.resend_view, name="resend"),
    path("chatter/attachments/<int:attachment_id>/", views_chatter.attachment_download_view, name="attachment"),
    # Record lists and pages by type ("/leads/", "/leads/3/"): last, as the slug matches anything.
    path("<slug:slug>/", views.record_list_view, name="record_list"),
    path("<slug:slug>/new/", views.record_create_view, name="record_create"),
    path("<slug:slug>/<int:pk>/", views.record_detail_view, name="record_detail"),
]
