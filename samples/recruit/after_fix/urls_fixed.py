"""The app's routes with the dashboard fixed in place: `dashboard/` served by the optimised view,
so a before/after comparison is of the same endpoint."""

from django.urls import path

from config.urls import urlpatterns as app_urls
from recruit import views

urlpatterns = [path("dashboard/", views.dashboard_optimised), *(p for p in app_urls if str(p.pattern) != "dashboard/")]
