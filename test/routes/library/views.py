"""Each list view reads `book.author` per row: one N+1 that select_related('author') fixes. The
others are the dead-view tests' routes: one page per language, a catch-all, one no one calls."""

from django.http import HttpResponse
from django.views.decorators.http import require_POST
from rest_framework import viewsets
from rest_framework.response import Response

from library.models import Book


def _titles(books):
    return ", ".join(f"{b.title} by {b.author.name}" for b in books)


def book_detail(request, pk):
    book = Book.objects.get(pk=pk)
    others = Book.objects.exclude(pk=book.pk).order_by("id")[:8]
    return HttpResponse(f"{book.title}: {_titles(others)}")


def shelf(request, shelf):
    return HttpResponse(_titles(Book.objects.order_by("-id")[:8]))


def about(request):
    return HttpResponse(f"{Book.objects.count()} books")


def page(request, slug):
    return HttpResponse(f"{slug}: {Book.objects.count()} books")


def legacy(request):
    return HttpResponse(_titles(Book.objects.all()))


@require_POST
def ats_webhook(request):
    return HttpResponse(f"{Book.objects.count()} books")


class BookViewSet(viewsets.ViewSet):
    def list(self, request):
        return Response([b.title for b in Book.objects.order_by("id")[:8]])

    def retrieve(self, request, pk=None):
        return Response(Book.objects.get(pk=pk).title)
