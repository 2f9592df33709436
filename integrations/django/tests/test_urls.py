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


def test_a_generic_view_the_project_mounts_is_the_projects_route():
    # TemplateView, RedirectView, ListView live in Django, but these routes are the project's: its
    # urls.py mounts them, and a request that never comes makes them as dead as a view it wrote.
    urls = {entry["route"]: entry for entry in build_urls("shop.generic_urls")}
    about = urls["about/"]
    assert (about["view"], about["urlconf"], about["project"]) == ("django.views.generic.base.TemplateView", "shop.generic_urls", True)
    assert urls["old-books/"]["project"] is True
    assert (urls["catalogue/"]["view"], urls["catalogue/"]["project"]) == ("django.views.generic.list.ListView", True)
    assert urls["books/"]["project"] is True
    # The admin's and auth's own routes come with Django, mounted or not.
    assert urls["accounts/login/"]["urlconf"] == "django.contrib.auth.urls"
    assert urls["accounts/login/"]["project"] is False
    admin_routes = [entry for route, entry in urls.items() if route.startswith("admin/")]
    assert admin_routes and all(entry["project"] is False and entry["urlconf"] == "django.contrib.admin" for entry in admin_routes)


def _install(site_packages: Path, dist: str, package: str, files: dict[str, str]) -> None:
    """Writes `package` into `site_packages` as pip installs a wheel: the modules and a dist-info naming them."""
    (site_packages / package).mkdir(parents=True)
    for name, text in files.items():
        (site_packages / package / name).write_text(text)
    info = site_packages / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{package}\n")
    (info / "RECORD").write_text("".join(f"{package}/{name},,\n" for name in files))


def test_a_project_installed_as_a_wheel_keeps_its_routes(tmp_path, monkeypatch):
    # Deployed as a wheel, the project's views are under site-packages like any package's: its routes
    # are still its own (its distribution ships the ROOT_URLCONF); a partner package's are not.
    import importlib
    import sys

    site_packages = tmp_path / "lib" / "python3" / "site-packages"
    view = "from django.http import HttpResponse\n\ndef report(request):\n    return HttpResponse('ok')\n"
    _install(site_packages, "partnerlib", "partnerlib", {
        "__init__.py": "", "views.py": view,
        "urls.py": "from django.urls import path\nfrom partnerlib import views\nurlpatterns = [path('status/', views.report)]\n",
    })
    _install(site_packages, "hiring-site", "hiringsite", {
        "__init__.py": "", "views.py": view,
        "urls.py": "from django.urls import include, path\nfrom hiringsite import views\n"
        "urlpatterns = [path('reports/', views.report), path('partner/', include('partnerlib.urls'))]\n",
    })
    monkeypatch.syspath_prepend(str(site_packages))
    importlib.invalidate_caches()
    try:
        with override_settings(ROOT_URLCONF="hiringsite.urls"):
            urls = {entry["route"]: entry for entry in build_urls()}
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in ("hiringsite", "partnerlib")]:
            del sys.modules[name]
    reports = urls["reports/"]
    assert "site-packages/hiringsite/views.py" in reports["file"]
    assert (reports["view"], reports["project"]) == ("hiringsite.views.report", True)
    assert (urls["partner/status/"]["urlconf"], urls["partner/status/"]["project"]) == ("partnerlib.urls", False)
