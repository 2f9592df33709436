"""The dashboards with a small data set: run with `pytest` (pytest-django), `pytest --n1lens`, or
`python manage.py test`. Under `--n1lens` the plain dashboard fails with its N+1 queries; the
optimised one passes; after_fix/ has the same dashboard test with the view fixed in place."""

from datetime import datetime, timedelta, timezone

from django.contrib.auth.models import User
from django.test import TestCase

from recruit.models import Application, Candidate, Company, Interview, Job, Note, Status

ROWS = 8


class DashboardData(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create_user("demo", password="not-a-secret")
        statuses = [Status.objects.create(label=label) for label in ("applied", "screening", "interviewing")]
        start = datetime(2024, 12, 1, tzinfo=timezone.utc)
        for i in range(ROWS):
            company = Company.objects.create(name=f"Company {i}")
            job = Job.objects.create(company=company, title=f"Engineer {i}")
            candidate = Candidate.objects.create(name=f"Candidate {i}", external_id=f"ext-{i}")
            app = Application.objects.create(
                user=cls.user, candidate=candidate, job=job, status=statuses[i % 3], created=start + timedelta(hours=i)
            )
            Note.objects.create(application=app, body="called back")
            Interview.objects.create(application=app, scheduled_at=start + timedelta(days=3, hours=i))

    def setUp(self):
        self.client.force_login(self.user)

    def assert_lists_every_application(self, response):
        self.assertEqual(response.status_code, 200)
        for i in range(ROWS):
            self.assertContains(response, f"Candidate {i}")


class DashboardTests(DashboardData):
    def test_dashboard_lists_applications(self):
        self.assert_lists_every_application(self.client.get("/dashboard/"))


class OptimisedDashboardTests(DashboardData):
    def test_optimised_dashboard_lists_applications(self):
        self.assert_lists_every_application(self.client.get("/dashboard/optimised/"))
