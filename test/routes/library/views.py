"""Each view reads `book.author` per row: one N+1 that select_related('author') fixes."""

from django.http import HttpResponse

from library.models import Book


def _titles(books):
    return ", ".join(f"{b.title} by {b.author.name}" for b in books)


def book_detail(request, pk):
    book = Book.objects.get(pk=pk)
    others = Book.objects.exclude(pk=book.pk).order_by("id")[:8]
    return HttpResponse(f"{book.title}: {_titles(others)}")


def shelf(request, shelf):
    return HttpResponse(_titles(Book.objects.order_by("-id")[:8]))
