"""Deterministic demo data (fixed random seed, fixed dates, explicit ids): the demo user's dashboard
rows and applications across many recruiters (`seed`), and, on PostgreSQL, millions more
applications generated server-side for the pipeline report (`seed_large`).
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
# seed_large: rows added, and the big agency accounts (recruiter-002 .. recruiter-011) they belong
# to, a tenth each; drive.py's pipeline report is recruiter-002's.
LARGE_ROWS = 3_000_000
LARGE_ACCOUNTS = range(2, 12)
# ...created between a year and this many days before SEED_EPOCH: the demo user's 50 newest seeded
# applications (its last ~8 days) stay the newest rows of the table, so its dashboard query is fast
# whichever index the planner picks for it (user_id, or a backward scan of created).
LARGE_NEWEST_DAYS = 14

SEEDED = (Interview, Note, Application, Candidate, Job, Company, Status, User)


@transaction.atomic
def seed(applications: int = 20000, rng_seed: int = 20250101) -> dict:
    """Replace all recruit data (and users) with the demo data set; returns row counts."""
    rng = random.Random(rng_seed)
    if connection.vendor == "postgresql":
        # After seed_large the ORM's cascading delete would load millions of rows into Python.
        tables = ", ".join(
            connection.ops.quote_name(model._meta.db_table) for model in SEEDED if model is not User
        )
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables}")
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


# seed_large's pipeline stages by age: (younger than N days, statuses picked from uniformly), the
# last for everything older. Interviews start a month in, so the newest rows are never interviewing.
LARGE_STAGES = (
    (7, ("applied",)),
    (30, ("screening", "screening", "screening", "rejected")),
    (75, ("interviewing", "interviewing", "interviewing", "rejected", "rejected")),
    (120, ("offer", "offer", "rejected", "rejected", "rejected")),
    (None, ("hired", "rejected", "rejected", "rejected")),
)


def _large_insert_sql(table: str, first_id: int, rows: int) -> str:
    """One INSERT … SELECT over generate_series; every value is a hash of the row number (so the
    data is the same on every run), the status a function of the age (LARGE_STAGES)."""
    status_id = {label: i + 1 for i, label in enumerate(STATUSES)}

    def pick(labels):
        ids = ",".join(str(status_id[label]) for label in labels)
        return f"(ARRAY[{ids}])[1 + mod(r, {len(labels)})]"

    stage = " ".join(
        f"WHEN age < {days * 86400} THEN {pick(labels)}" if days else f"ELSE {pick(labels)}"
        for days, labels in LARGE_STAGES
    )
    epoch = SEED_EPOCH.isoformat()
    newest, year = LARGE_NEWEST_DAYS * 86400, 365 * 86400
    return f"""
        INSERT INTO {table} (id, created, user_id, candidate_id, job_id, status_id)
        SELECT {first_id} + i, timestamptz '{epoch}' - make_interval(secs => age),
               {LARGE_ACCOUNTS.start} + mod(u, {len(LARGE_ACCOUNTS)}),
               1 + mod(c, {CANDIDATES}), 1 + mod(j, {JOBS}), CASE {stage} END
          FROM (SELECT i,
                       {newest} + mod(hashint8extended(i, 1) & 2147483647, {year - newest}) AS age,
                       hashint8extended(i, 2) & 2147483647 AS u,
                       hashint8extended(i, 3) & 2147483647 AS c,
                       hashint8extended(i, 4) & 2147483647 AS j,
                       hashint8extended(i, 5) & 2147483647 AS r
                  FROM generate_series(1, {int(rows)}) AS i) AS g
    """


def seed_large(rows: int = LARGE_ROWS) -> int:
    """PostgreSQL only: appends `rows` applications to the seeded ones, generated server-side.

    They belong to a few big agency accounts (LARGE_ACCOUNTS, a tenth of the rows each), never to
    the demo user: its dashboards keep the seeded rows with their notes and interviews, and stay
    fast (the optimised one counts notes over all the user's applications). Dates are spread over
    the year before SEED_EPOCH, up to LARGE_NEWEST_DAYS before it, in random heap order (status
    updates leave a heap in no particular order); the status follows the age (LARGE_STAGES).

    The table keeps its single-column indexes only, so an account's pipeline report has no good
    plan: the planner's pick, a backward scan of `created` filtered on user and status, passes
    weeks of everyone's applications before the first interviewing one, and the alternatives (a
    BitmapAnd of the three indexes, a parallel seq scan) read most of the table too.

    Runs its own transaction, then a VACUUM: not to be called inside atomic(). Returns the
    table's row count.
    """
    if connection.vendor != "postgresql":
        raise ValueError("seed_large needs PostgreSQL (RECRUIT_DB=postgres)")
    table = connection.ops.quote_name(Application._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        (first_id,) = cursor.fetchone()
        # Loading into a table without its secondary indexes and foreign keys, then building them
        # back from their own definitions, is several times faster than maintaining them per row.
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT i.indisunique",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        foreign_keys = cursor.fetchall()
        for name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        cursor.execute(_large_insert_sql(table, first_id, rows))
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            cursor.execute(ddl)
        for name, ddl in foreign_keys:
            name = connection.ops.quote_name(name)
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {ddl}")
        for sql in connection.ops.sequence_reset_sql(no_style(), [Application]):
            cursor.execute(sql)  # submit_application inserts after these rows
    with connection.cursor() as cursor:
        # Statistics for the planner, and autovacuum's post-load pass done now rather than while
        # a recording runs.
        cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]
