from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "dropin.library"
    label = "library"
