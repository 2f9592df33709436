"""The test URLconf: nested include(), path converters, a regex route, a class-based view."""

from django.urls import include, path, re_path

from shop import views

orders = [path("new/", views.order_create, name="order-create")]

urlpatterns = [
    path("books/", views.book_list, name="book-list"),
    path("books/<int:pk>/", views.book_detail),
    path("shop/", include([path("orders/", include(orders)), re_path(r"^legacy/(?P<year>[0-9]{4})/$", views.book_list)])),
    path("authors/<slug:slug>/", views.AuthorView.as_view()),
    path("health/", views.health),
]
