"""Web UI routes of the mailcore app: developer mode and the technical settings."""

from django.urls import path

from mailcore import views

app_name = "mailcore"
urlpatterns = [
    path("servers/", views.server_list_view, name="servers"),
    path("servers/new/", views.server_edit_view, name="server_create"),
    path("servers/builtin/test/", views.server_test_view, name="server_test_builtin"),
    path("servers/<int:pk>/", views.server_edit_view, name="server_edit"),
    path("servers/<int:pk>/delete/", views.server_delete_view, name="server_delete"),
    path("servers/<int:pk>/test/", views.server_test_view, name="server_test"),
    path("alias-domains/", views.alias_domain_list_view, name="alias_domains"),
    path("alias-domains/new/", views.alias_domain_edit_view, name="alias_domain_create"),
    path("alias-domains/<int:pk>/", views.alias_domain_edit_view, name="alias_domain_edit"),
    path("alias-domains/<int:pk>/delete/", views.alias_domain_delete_view, name="alias_domain_delete"),
    path("alias-domains/<int:pk>/dkim/", views.alias_domain_dkim_view, name="alias_domain_dkim"),
    path("aliases/", views.alias_list_view, name="aliases"),
    path("aliases/new/", views.alias_edit_view, name="alias_create"),
    path("aliases/<int:pk>/", views.alias_edit_view, name="alias_edit"),
    path("aliases/<int:pk>/delete/", views.alias_delete_view, name="alias_delete"),
]
