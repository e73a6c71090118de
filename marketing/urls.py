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
]
