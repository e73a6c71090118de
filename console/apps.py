from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The app on top of all the others: page chrome, diagnostics and ``run_all``."""

    name = "console"
    verbose_name = "Console"
