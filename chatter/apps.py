from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatterConfig(AppConfig):
    name = "chatter"
    verbose_name = _("Chatter")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from mailcore.defaults import ensure_defaults_after_migrate

        # Also after a flush (transactional tests), which empties the data-migration rows.
        post_migrate.connect(ensure_defaults_after_migrate, sender=self, dispatch_uid=f"{self.label}.defaults")

        from chatter.selectors import record_types
        from mailcore.registry import register_alias_targets

        # Only models with a chatter can receive mail through an alias.
        register_alias_targets(lambda: [rt.model for rt in record_types()])
