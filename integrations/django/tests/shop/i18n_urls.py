"""A URLconf with i18n_patterns and a translated route: what a request's http.route reads depends on its language."""

from django.conf.urls.i18n import i18n_patterns
from django.urls import path
from django.utils.translation import gettext_lazy as _

from shop import views

urlpatterns = [
    path("books/", views.book_list),
    *i18n_patterns(path("about/", views.order_create), path(_("authors/<slug:slug>/"), views.AuthorView.as_view())),
]
