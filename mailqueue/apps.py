from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MailqueueConfig(AppConfig):
    name = "mailqueue"
    verbose_name = _("Outgoing mail queue")

    def ready(self) -> None:
        from chatter.registry import register_email_canceller, register_email_notifier, register_email_retry_lookup
        from mailqueue.selectors import mail_retries_for_notifications
        from mailqueue.services import mail_create_for_notifications, mail_detach_failed_notifications

        register_email_notifier(mail_create_for_notifications)
        register_email_canceller(mail_detach_failed_notifications)
        register_email_retry_lookup(mail_retries_for_notifications)

        # Crons as django-celery-beat periodic tasks: created after migrate, edited in the admin.
        from mailqueue import admin_crons, crons

        post_migrate.connect(crons.crons_ensure_after_migrate, sender=self, dispatch_uid="mailqueue.crons_ensure")
        admin_crons.install()
