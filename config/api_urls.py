"""JSON API routes (Django REST Framework), all behind authentication.

The OpenAPI 3 schema is at /api/schema/ and its Swagger UI at /api/docs/; the UI's assets come
from drf-spectacular-sidecar (served as static files), never from a CDN.
"""

from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from demo.api import LeadViewSet, QuotationViewSet, TicketViewSet
from mailcore.api import PartnerViewSet
from mailqueue.api import MailViewSet
from marketing.api import MailingListViewSet, MailingViewSet

router = DefaultRouter(use_regex_path=False)
router.include_format_suffixes = False  # JSON only: no ".json" twins of every route
router.register("contacts", PartnerViewSet, basename="contact")
router.register("leads", LeadViewSet, basename="lead")
router.register("quotations", QuotationViewSet, basename="quotation")
router.register("tickets", TicketViewSet, basename="ticket")
router.register("queue", MailViewSet, basename="mail")
router.register("marketing/lists", MailingListViewSet, basename="mailing-list")
router.register("marketing/campaigns", MailingViewSet, basename="mailing")

urlpatterns: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
]
