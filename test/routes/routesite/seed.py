"""python -m routesite.seed: migrate and fill the library (no tracing)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routesite.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from library.models import Author, Book  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
authors = [Author.objects.create(name=f"Author {i}") for i in range(10)]
for i in range(12):
    Book.objects.create(title=f"Book {i}", author=authors[i % 10])
