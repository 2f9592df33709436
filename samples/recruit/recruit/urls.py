"""Routes; the route strings are what traces carry as http.route (e.g. "GET dashboard/")."""

from django.urls import path

from recruit import views

urlpatterns = [
    path("login/", views.login_demo),
    path("dashboard/", views.dashboard),
    path("dashboard/optimised/", views.dashboard_optimised),
    path("webhooks/ats/", views.ats_webhook),
    path("applications/submit/", views.submit_application),
    path("reports/pipeline/", views.pipeline_report),
    path("reports/legacy-export/", views.legacy_export),
    path("internal/nightly-rollup/", views.nightly_rollup),
    path("otel/flush/", views.flush_traces),
]
