"""Routes: the admin site, the library API (a DRF router) and the recruit sample's own routes."""

from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from dropin.library.api import BookViewSet

router = DefaultRouter()
router.register("books", BookViewSet)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(router.urls)),
    path("", include("recruit.urls")),
]
