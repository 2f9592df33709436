"""Configures a minimal Django project (auth, contenttypes, the `shop` test app) for the tests."""

import django
from django.conf import settings


def pytest_configure():
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "n1lens_django",
            "shop",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        ROOT_URLCONF="shop.urls",
        N1LENS_IGNORE_VIEWS=["shop.views.health"],
    )
    django.setup()
