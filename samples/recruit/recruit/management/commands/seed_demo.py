"""`manage.py seed_demo [--applications N]`: replaces all data with the deterministic demo set."""

from django.core.management.base import BaseCommand

from recruit.seed import seed


class Command(BaseCommand):
    help = "Replace all recruit data and users with the deterministic demo data set."

    def add_arguments(self, parser):
        parser.add_argument("--applications", type=int, default=20000, help="rows in the large table")

    def handle(self, *args, applications, **options):
        counts = seed(applications=applications)
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
