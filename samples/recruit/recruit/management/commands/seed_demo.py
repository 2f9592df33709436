"""`manage.py seed_demo [--applications N] [--large [N]]`: replaces all data with the deterministic
demo set; --large (PostgreSQL only) adds N more applications, 3 million by default, for the
pipeline report's slow query."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from recruit.seed import LARGE_ROWS, seed, seed_large


class Command(BaseCommand):
    help = "Replace all recruit data and users with the deterministic demo data set."

    def add_arguments(self, parser):
        parser.add_argument("--applications", type=int, default=20000, help="rows seeded with relations")
        parser.add_argument(
            "--large",
            type=int,
            nargs="?",
            const=LARGE_ROWS,
            default=0,
            metavar="N",
            help=f"PostgreSQL only: add N applications generated server-side (default {LARGE_ROWS:,})",
        )

    def handle(self, *args, applications, large, **options):
        if large and connection.vendor != "postgresql":
            raise CommandError("--large needs PostgreSQL (RECRUIT_DB=postgres)")
        counts = seed(applications=applications)
        if large:
            counts["Application"] = seed_large(large)
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
