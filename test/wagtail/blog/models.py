"""The blog: an index page listing its posts (each with an image, tags and an author snippet) and a
quote snippet listed in the admin with its author column. BLOG_POSTS / QUOTES, when set, are the
querysets the listings use instead of the plain ones: the tests paste n1lens's printed fixes there."""

import os

from django.db import models
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from taggit.models import TaggedItemBase
from wagtail.models import Page
from wagtail.snippets.models import register_snippet


@register_snippet
class Author(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


class Quote(models.Model):
    text = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)

    def __str__(self):
        return self.text


class BlogPageTag(TaggedItemBase):
    content_object = ParentalKey("BlogPage", related_name="tagged_items", on_delete=models.CASCADE)


class BlogPage(Page):
    author = models.ForeignKey(Author, null=True, on_delete=models.SET_NULL)
    image = models.ForeignKey("wagtailimages.Image", null=True, on_delete=models.SET_NULL, related_name="+")
    tags = ClusterTaggableManager(through=BlogPageTag, blank=True)


def _pasted(name):
    """The queryset a test pasted (a printed fix), evaluated with the models in scope."""
    from django.db.models import Count, Exists, OuterRef, Prefetch  # noqa: F401  (a fix may use them)
    from wagtail.images.models import Image, Rendition  # noqa: F401

    code = os.environ.get(name)
    return None if not code else eval(code)  # noqa: S307  (test input: n1lens's own output)


class BlogIndexPage(Page):
    subpage_types = ["blog.BlogPage"]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        base = _pasted("BLOG_POSTS") or BlogPage.objects.all()
        context["posts"] = base.child_of(self).live().order_by("path")
        return context
