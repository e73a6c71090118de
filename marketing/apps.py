from django.apps import AppConfig


class MarketingConfig(AppConfig):
    """E-mail marketing (Odoo's ``mass_mailing``): mailing lists, subscriptions and campaigns."""

    name = "marketing"
    verbose_name = "Email Marketing"
