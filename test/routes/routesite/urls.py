from django.urls import path

from library import views

urlpatterns = [
    path("books/<int:pk>/", views.book_detail),
    path("shelves/<uuid:shelf>/", views.shelf),
]
