from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls

from blog import views as blog_views

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("feed/", blog_views.feed),
    path("", include(wagtail_urls)),
]
