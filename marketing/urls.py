"""Routes of e-mail marketing (included at /marketing/)."""

from django.urls import path

from marketing import views

app_name = "marketing"
urlpatterns = [
    path("lists/", views.mailing_list_index_view, name="lists"),
    path("lists/<int:pk>/", views.mailing_list_detail_view, name="list_detail"),
    path("subscriptions/<int:pk>/opt-out/", views.subscription_opt_out_view, name="subscription_opt_out"),
    path("subscriptions/<int:pk>/remove/", views.subscription_remove_view, name="subscription_remove"),
    path("contacts/<int:pk>/", views.contact_subscriptions_view, name="contact_subscriptions"),
    path("import/", views.contact_import_view, name="import"),
    path("campaigns/", views.mailing_index_view, name="mailings"),
    path("campaigns/new/", views.mailing_edit_view, name="mailing_create"),
    path("campaigns/<int:pk>/", views.mailing_detail_view, name="mailing_detail"),
    path("campaigns/<int:pk>/edit/", views.mailing_edit_view, name="mailing_edit"),
    path("campaigns/<int:pk>/action/", views.mailing_action_view, name="mailing_action"),
    path("campaigns/<int:pk>/recipients/", views.mailing_traces_view, name="mailing_traces"),
]
