"""Views with the loops the location processor must point at (test_tracing.py, through
tracing_urls.py): in a template, in the view itself, in a Django REST framework serializer, and
an async view."""

from django.http import JsonResponse
from django.views import View
from django.shortcuts import render
from rest_framework import generics

from shop.models import BargainBook, Book
from shop.serializers import BookSerializer


def book_list(request):
    return render(request, "shop/books.html", {"books": Book.objects.order_by("id")})


def publisher_names(request):
    names = []
    for book in Book.objects.order_by("id"):
        names.append(book.publisher.name)
    return JsonResponse({"publishers": names})


async def book_titles(request):
    """An async view: under ASGI its queries run in asgiref's threads, away from Django's handler."""
    return JsonResponse({"titles": [b.title async for b in Book.objects.order_by("id")]})


class BookListAPI(generics.ListAPIView):
    queryset = Book.objects.order_by("id")
    serializer_class = BookSerializer


class BargainAuthors(View):
    """A class-based view over a proxy whose manager keeps some rows only (BargainBook)."""

    model = BargainBook

    def get(self, request):
        return JsonResponse({"authors": [b.author.name for b in self.model.objects.order_by("id")]})
