"""Deterministic demo data (fixed random seed, fixed dates, explicit ids): the demo user's dashboard
rows, and a large applications table across many users for the pipeline report.
"""

import random
from datetime import datetime, timedelta, timezone

from django.contrib.auth.models import User
from django.core.management.color import no_style
from django.db import connection, transaction

from recruit.models import Application, Candidate, Company, Interview, Job, Note, Status

DEMO_USERNAME = "demo"
# Every seeded date is before this instant; the pipeline report's window ends at it.
SEED_EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
STATUSES = ("applied", "screening", "interviewing", "offer", "hired", "rejected")
COMPANIES = 40
JOBS = 200
CANDIDATES = 5000
USERS = 200  # the demo user plus 199 other recruiters
DEMO_SHARE = 0.1  # of all applications, owned by the demo user
BATCH = 2000

SEEDED = (Interview, Note, Application, Candidate, Job, Company, Status, User)


@transaction.atomic
def seed(applications: int = 20000, rng_seed: int = 20250101) -> dict:
    """Replace all recruit data (and users) with the demo data set; returns row counts."""
    rng = random.Random(rng_seed)
    for model in SEEDED:
        model.objects.all().delete()

    statuses = [Status(id=i + 1, label=label) for i, label in enumerate(STATUSES)]
    companies = [Company(id=i + 1, name=f"Company {i + 1:02d}") for i in range(COMPANIES)]
    jobs = [
        Job(id=i + 1, company_id=rng.randint(1, COMPANIES), title=f"Role {i + 1:03d}")
        for i in range(JOBS)
    ]
    candidates = [
        Candidate(id=i + 1, name=f"Candidate {i + 1:04d}", external_id=f"ats-{i + 1:05d}")
        for i in range(CANDIDATES)
    ]
    users = [User(id=1, username=DEMO_USERNAME)] + [
        User(id=i + 1, username=f"recruiter-{i + 1:03d}") for i in range(1, USERS)
    ]
    for user in users:
        user.set_unusable_password()  # the demo logs in through login/, no password hashing

    apps, notes, interviews = [], [], []
    for i in range(applications):
        app_id = i + 1
        created = SEED_EPOCH - timedelta(seconds=rng.randint(60, 365 * 86400))
        apps.append(
            Application(
                id=app_id,
                user_id=1 if rng.random() < DEMO_SHARE else rng.randint(2, USERS),
                candidate_id=rng.randint(1, CANDIDATES),
                job_id=rng.randint(1, JOBS),
                status_id=rng.randint(1, len(STATUSES)),
                created=created,
            )
        )
        for n in range(rng.randint(0, 4)):
            notes.append(Note(id=len(notes) + 1, application_id=app_id, body=f"Note {n + 1} on #{app_id}"))
        for n in range(rng.randint(0, 3)):
            at = created + timedelta(days=rng.randint(1, 30), hours=rng.randint(9, 17))
            interviews.append(Interview(id=len(interviews) + 1, application_id=app_id, scheduled_at=at))

    for model, rows in (
        (Status, statuses),
        (Company, companies),
        (Job, jobs),
        (Candidate, candidates),
        (User, users),
        (Application, apps),
        (Note, notes),
        (Interview, interviews),
    ):
        model.objects.bulk_create(rows, batch_size=BATCH)

    # Explicit ids leave PostgreSQL's sequences behind; later inserts (submit) need them advanced.
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(SEEDED)):
            cursor.execute(sql)

    return {model.__name__: model.objects.count() for model in SEEDED}
