"""A URLconf mounting Django's generic views and apps beside the project's own: the admin, auth's URLconf."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import ListView, RedirectView, TemplateView

from shop import views
from shop.models import Book

urlpatterns = [
    path("about/", TemplateView.as_view(template_name="shop/books.html")),
    path("old-books/", RedirectView.as_view(url="/books/")),
    path("catalogue/", ListView.as_view(model=Book)),
    path("books/", views.book_list),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
]
