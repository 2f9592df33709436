"""Django's runserver, with its start-up migration check kept out of the traces.

The check's queries run before any request, so they would be exported as DB spans without a parent,
which n1lens (rightly) counts as requests of their own: noise in every recording.
"""

from django.core.management.commands import runserver
from opentelemetry.instrumentation.utils import suppress_instrumentation


class Command(runserver.Command):
    def check_migrations(self):
        with suppress_instrumentation():
            super().check_migrations()
