from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = _("Demo records")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from mailcore.defaults import ensure_defaults_after_migrate

        # Also after a flush (transactional tests), which empties the data-migration rows.
        post_migrate.connect(ensure_defaults_after_migrate, sender=self, dispatch_uid=f"{self.label}.defaults")
