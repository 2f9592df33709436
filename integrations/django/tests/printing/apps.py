"""An app whose label (`press`) is not its module's name (`printing`): its tables are press_*."""

from django.apps import AppConfig


class PressConfig(AppConfig):
    name = "printing"
    label = "press"
