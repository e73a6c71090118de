from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailcoreConfig(AppConfig):
    name = "mailcore"
    verbose_name = _("Mail core")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from mailcore.defaults import ensure_defaults_after_migrate

        # Also after a flush (transactional tests), which empties the data-migration rows.
        post_migrate.connect(ensure_defaults_after_migrate, sender=self, dispatch_uid=f"{self.label}.defaults")
        from mailcore import checks  # noqa: F401  (registers system checks)
