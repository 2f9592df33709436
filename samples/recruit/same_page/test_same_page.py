"""`GET dashboard/` from three tests, as a test suite hits one page from many: the plain dashboard's
N+1 test (tests/test_dashboard.py) and two ordinary tests of the page for a user with no
applications yet. The N+1 is in one request of three, and must still fail `pytest --n1lens`: a test's
request is no production warm-up. Not collected by default (not in testpaths, not a package): run
`pytest --n1lens same_page`."""

from django.contrib.auth.models import User
from django.test import TestCase

from tests.test_dashboard import DashboardTests


class EmptyDashboardTests(TestCase):
    def setUp(self):
        self.client.force_login(User.objects.create_user("new", password="not-a-secret"))

    def test_empty_dashboard_renders(self):
        self.assertEqual(self.client.get("/dashboard/").status_code, 200)

    def test_empty_dashboard_renders_again(self):
        self.assertEqual(self.client.get("/dashboard/").status_code, 200)


__all__ = ["DashboardTests", "EmptyDashboardTests"]
