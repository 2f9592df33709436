"""The schema's `urls`: every route as OpenTelemetry's Django instrumentation names it, with its view."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import resolve

from n1lens_django.schema import build_urls

VIEWS_PY = Path(__file__).parent / "shop" / "views.py"


@pytest.fixture(scope="module")
def urls():
    out = io.StringIO()
    call_command("n1lens_schema", stdout=out)
    return {entry["route"]: entry for entry in json.loads(out.getvalue())["urls"]}


def line_of(text):
    return next(i for i, line in enumerate(VIEWS_PY.read_text().splitlines(), 1) if text in line)


def test_lists_every_route_joined_as_the_resolver_joins_it(urls):
    assert sorted(urls) == [
        "authors/<slug:slug>/",
        "books/",
        "books/<int:pk>/",
        "shop/legacy/(?P<year>[0-9]{4})/$",
        "shop/orders/new/",
    ]


def test_routes_are_what_a_request_resolves_to(urls):
    # http.route in the spans is resolver_match.route: the same strings must come out.
    for path, route in [
        ("/books/7/", "books/<int:pk>/"),
        ("/shop/legacy/2019/", "shop/legacy/(?P<year>[0-9]{4})/$"),
        ("/shop/orders/new/", "shop/orders/new/"),
    ]:
        assert resolve(path).route == route
        assert route in urls


def test_names_the_view_through_decorators_and_class_based_views(urls):
    books = urls["books/"]
    assert (books["view"], books["name"], books["line"]) == ("shop.views.book_list", "book-list", line_of("def book_list"))
    assert books["file"].endswith("shop/views.py")
    assert urls["books/<int:pk>/"]["view"] == "shop.views.book_detail"
    assert urls["authors/<slug:slug>/"]["view"] == "shop.views.AuthorView"
    assert urls["authors/<slug:slug>/"]["line"] == line_of("class AuthorView")


def test_says_the_methods_where_the_view_does(urls):
    assert urls["books/<int:pk>/"]["methods"] == ["GET", "PUT"]
    assert urls["shop/orders/new/"]["methods"] == ["POST"]
    assert urls["authors/<slug:slug>/"]["methods"] == ["DELETE", "GET"]
    assert "methods" not in urls["books/"]


def test_leaves_out_views_the_settings_ignore():
    assert all(entry["view"] != "shop.views.health" for entry in build_urls())


def test_schema_without_urlconf_has_no_urls():
    from n1lens_django.schema import build_schema

    with override_settings(ROOT_URLCONF=None):
        assert "urls" not in build_schema()


def test_a_route_under_i18n_patterns_lists_each_languages_form():
    # http.route is resolver_match.route, which reads in the request's language: fr/about/ for a
    # French visitor, whatever language the export runs in.
    with override_settings(LANGUAGE_CODE="en", LANGUAGES=[("en", "English"), ("fr", "French")]):
        urls = {entry["view"]: entry for entry in build_urls("shop.i18n_urls")}
        from django.utils import translation

        with translation.override("fr"):
            assert resolve("/fr/about/", "shop.i18n_urls").route == "fr/about/"
    assert urls["shop.views.order_create"]["route"] == "en/about/"
    assert urls["shop.views.order_create"]["languages"] == {"en": "en/about/", "fr": "fr/about/"}
    assert urls["shop.views.AuthorView"]["languages"] == {"en": "en/authors/<slug:slug>/", "fr": "fr/authors/<slug:slug>/"}
    # A route outside i18n_patterns reads the same in every language: no languages.
    assert "languages" not in urls["shop.views.book_list"]


def test_a_partial_or_a_callable_instance_is_named_by_what_it_calls():
    # Django takes any callable as a view; the export (and with it the whole schema file) must not fail on one.
    urls = {entry["route"]: entry for entry in build_urls("shop.callable_urls")}
    csv = urls["books.csv"]
    detail = next(entry for entry in build_urls() if entry["route"] == "books/<int:pk>/")
    assert (csv["view"], csv["methods"], csv["line"]) == ("shop.views.book_detail", ["GET", "PUT"], detail["line"])
    assert urls["feed/"]["view"] == "shop.callable_urls.Feed"
    assert urls["feed/"]["file"].endswith("shop/callable_urls.py")
