#!/usr/bin/env python
"""Django's command-line utility for the recruit sample app.

`runserver` is traced (recruit/otel.py, set up before Django loads so the instrumentations wrap it);
other commands (migrate, seed_demo, n1lens_schema) are not, so they add no spans to a recording.
"""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] == "runserver":
        from recruit.otel import setup_tracing

        setup_tracing(exit_on_sigterm=True)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
