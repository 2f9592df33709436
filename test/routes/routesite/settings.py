"""A one-app Django site served under uvicorn (ASGI) and wsgiref (WSGI) with OpenTelemetry's own
ASGI/WSGI middleware around it, so the SERVER span is the middleware's and the route sits below.
Two languages (LocaleMiddleware, i18n_patterns) and n1lens_django for the schema export."""

import os

SECRET_KEY = "routes-test"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "n1lens_django", "library"]
MIDDLEWARE = ["django.middleware.locale.LocaleMiddleware"]
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "French")]
ROOT_URLCONF = "routesite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["ROUTES_SQLITE_PATH"]}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
