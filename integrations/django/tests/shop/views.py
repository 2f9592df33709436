"""Views in every shape the URLconf export must describe (see test_urls.py)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views import View
from django.views.decorators.http import require_http_methods, require_POST


def book_list(request):
    return HttpResponse("books")


@login_required
@require_http_methods(["GET", "PUT"])
def book_detail(request, pk):
    return HttpResponse(str(pk))


@require_POST
def order_create(request):
    return HttpResponse("created")


class AuthorView(View):
    def get(self, request, slug):
        return HttpResponse(slug)

    def delete(self, request, slug):
        return HttpResponse(status=204)


def health(request):
    return HttpResponse("ok")
