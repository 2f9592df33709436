from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from library import views

# A DRF router: each viewset route gets a format-suffix twin (books.json), which nobody calls.
router = DefaultRouter()
router.register("books", views.BookViewSet, basename="book")

urlpatterns = [
    path("books/<int:pk>/", views.book_detail),
    path("shelves/<uuid:shelf>/", views.shelf),
    path("legacy/", views.legacy),
    path("webhooks/ats/", views.ats_webhook),
    path("api/", include(router.urls)),
    # /en/about/ and /fr/about/: http.route carries the request's language prefix.
    *i18n_patterns(path("about/", views.about)),
    # A catch-all (a CMS's pages): n1lens splits its endpoint by the path's first segment.
    path("<path:slug>/", views.page),
]
