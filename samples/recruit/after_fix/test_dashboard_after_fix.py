"""`GET dashboard/` after the fix: the same endpoint and data as tests/test_dashboard.py, served by
the optimised view, so `n1lens diff` of the two runs shows the fix. Not collected by default (not in
testpaths, not a package): run `pytest --n1lens after_fix`."""

from django.test import override_settings

from tests.test_dashboard import DashboardData


@override_settings(ROOT_URLCONF="urls_fixed")
class FixedDashboardTests(DashboardData):
    def test_dashboard_lists_applications(self):
        self.assert_lists_every_application(self.client.get("/dashboard/"))
