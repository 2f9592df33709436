from django.contrib import admin
from django.urls import path

from shop import views

urlpatterns = [
    path("books/", views.book_list),
    path("publishers/", views.publisher_names),
    path("api/books/", views.BookListAPI.as_view()),
    path("admin/", admin.site.urls),
]
