"""Django app config: lets `n1lens_django` sit in INSTALLED_APPS so its management command loads."""

from django.apps import AppConfig


class N1lensDjangoConfig(AppConfig):
    name = "n1lens_django"
    verbose_name = "n1lens"
