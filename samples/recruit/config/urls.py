"""URL routes of the recruit sample app (all in the recruit app)."""

from django.urls import include, path

urlpatterns = [path("", include("recruit.urls"))]
