"""The quotes listing in the admin: a snippet viewset whose list shows each quote's author (a FK)."""

import os

from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from blog.models import Quote


class QuoteViewSet(SnippetViewSet):
    model = Quote
    list_display = ["text", "author"]

    def get_queryset(self, request):
        from blog.models import _pasted

        return _pasted("QUOTES")  # None: Wagtail's default queryset


register_snippet(QuoteViewSet)
