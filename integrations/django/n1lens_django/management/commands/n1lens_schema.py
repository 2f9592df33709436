"""`manage.py n1lens_schema [-o FILE]`: writes the n1lens schema JSON for all installed models."""

import json

from django.core.management.base import BaseCommand

from n1lens_django.schema import build_schema


class Command(BaseCommand):
    help = "Write the n1lens schema file (models, tables, relation names) to stdout or --output."

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="file to write (default: stdout)")

    def handle(self, *args, output=None, **options):
        text = json.dumps(build_schema(), indent=2) + "\n"
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            self.stdout.write(text, ending="")
