from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class BouncesConfig(AppConfig):
    name = "bounces"
    verbose_name = _("Inbound gateway and bounces")

    def ready(self) -> None:
        from django_celery_beat.models import IntervalSchedule

        from bounces import conf, services, tasks
        from mailqueue.crons import CronSpec, register_cron
        from mailqueue.vacuum import register_vacuum

        # The sweep is a django-celery-beat periodic task, created after migrate with the others.
        register_cron(
            CronSpec(
                name=tasks.SWEEP_CRON,
                task=tasks.SWEEP_TASK,
                every=max(conf.sweep_interval_seconds(), 1),
                period=IntervalSchedule.SECONDS,
                description="Internal: processes inbound mail whose doorbell was lost (broker down) or "
                "whose worker died. Exempt from the 5-minute floor.",
                internal=True,
            )
        )
        # Retention of inbound mail (an admin setting) runs with Odoo's daily Auto-Vacuum.
        register_vacuum("inbound_messages", lambda: services.inbound_vacuum())
        checks.register(check_gateway_tls, "bounces")

        # "See Error Details" in the chatter reads the bounce notice that failed a notification.
        from bounces.selectors import bounce_notice_for_notification
        from chatter.registry import register_bounce_notice_reader

        register_bounce_notice_reader(bounce_notice_for_notification)

        # The gateway caches aliases and alias domains; a change made in this process drops it.
        from django.db.models.signals import post_delete, post_save

        from bounces.selectors import alias_cache
        from mailcore.models import Alias, AliasDomain

        for model in (Alias, AliasDomain):
            post_save.connect(
                alias_cache.clear, sender=model, dispatch_uid=f"bounces.alias_cache.save.{model.__name__}"
            )
            post_delete.connect(
                alias_cache.clear, sender=model, dispatch_uid=f"bounces.alias_cache.delete.{model.__name__}"
            )


def check_gateway_tls(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """bounces.E001: STARTTLS is configured but its certificate cannot be loaded."""
    from bounces.exceptions import GatewayConfigurationError
    from bounces.gateway import tls_context

    try:
        tls_context()
    except GatewayConfigurationError as exc:
        return [checks.Error(str(exc), hint="Fix or unset the gateway TLS settings.", id="bounces.E001")]
    return []
