#!/usr/bin/env python
"""Django's command-line utility for the recruit sample app.

`runserver` is traced (recruit/otel.py, set up before Django loads so the instrumentations wrap it),
and `test` when OTEL_TRACES_EXPORTER=otlp; other commands (migrate, seed_demo, n1lens_schema) are
not, so they add no spans to a recording.
"""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    # `test` is traced when something asks for OTLP, e.g. `n1lens capture -- python manage.py test`.
    if command == "runserver" or (command == "test" and os.environ.get("OTEL_TRACES_EXPORTER") == "otlp"):
        from recruit.otel import setup_tracing

        setup_tracing(exit_on_sigterm=True)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
