from django.apps import AppConfig


class ChatterConfig(AppConfig):
    name = "chatter"
    verbose_name = "Chatter"
