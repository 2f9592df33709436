"""The app's own view beside Wagtail's: an RSS feed no recording visits (the dead-view tests' unseen route)."""

from django.http import HttpResponse


def feed(request):
    return HttpResponse("<rss/>", content_type="application/rss+xml")
