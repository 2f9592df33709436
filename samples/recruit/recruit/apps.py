"""App config for the recruit sample app."""

from django.apps import AppConfig


class RecruitConfig(AppConfig):
    name = "recruit"
    label = "recruit"
