"""The location tests' URLconf (test_tracing.py switches to it), apart from the one the URLconf
export tests describe route by route."""

from django.contrib import admin
from django.urls import path

from shop import tracing_views

urlpatterns = [
    path("books/", tracing_views.book_list),
    path("publishers/", tracing_views.publisher_names),
    path("titles/", tracing_views.book_titles),
    path("api/books/", tracing_views.BookListAPI.as_view()),
    path("bargains/", tracing_views.BargainAuthors.as_view()),
    path("admin/", admin.site.urls),
]
