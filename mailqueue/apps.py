from django.apps import AppConfig


class MailqueueConfig(AppConfig):
    name = "mailqueue"
    verbose_name = "Outgoing mail queue"

    def ready(self) -> None:
        from chatter.registry import register_email_notifier
        from mailqueue.services import mail_create_for_notifications

        register_email_notifier(mail_create_for_notifications)
