from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    """E-mail marketing (Odoo's ``mass_mailing``): mailing lists, subscriptions and campaigns."""

    name = "marketing"
    verbose_name = _("Email Marketing")

    def ready(self) -> None:
        from django_celery_beat.models import IntervalSchedule

        from bounces.registry import register_bounce_listener, register_reply_listener
        from mailqueue.crons import CronSpec, register_cron
        from mailqueue.registry import register_delivery_listener
        from marketing.queue import MARKETING_CRON, MARKETING_TASK, traces_record_bounce, traces_record_outcomes
        from marketing.replies import campaign_replies

        # Daily, as in Odoo; sending or scheduling a campaign triggers it early.
        register_cron(
            CronSpec(
                name=MARKETING_CRON,
                task=MARKETING_TASK,
                every=1,
                period=IntervalSchedule.DAYS,
                description="Odoo mass_mailing.ir_cron_mass_mailing_queue: queues due campaigns, oldest first, in "
                "batches within a time budget; a campaign that fails is marked failed and the others go on.",
            )
        )
        register_delivery_listener(traces_record_outcomes)
        register_bounce_listener(traces_record_bounce)
        register_reply_listener(campaign_replies)
