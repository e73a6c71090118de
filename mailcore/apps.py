from django.apps import AppConfig


class MailcoreConfig(AppConfig):
    name = "mailcore"
    verbose_name = "Mail core"

    def ready(self) -> None:
        from mailcore import checks  # noqa: F401  (registers system checks)
