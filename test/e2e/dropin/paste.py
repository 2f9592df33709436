"""Pastes a report's printed fix into the running test site the way a developer would: the queryset
in place of the view's `Model.objects`, the ModelAdmin attributes onto the registered admin, a DRF
view's `queryset`, and every "# then read X, not Y" line applied to the code that reads Y today
(the template, the model's property, the list_display method). A printed fix that does not parse,
names a model that does not exist, or asks to replace code the app does not have, raises.
"""

import contextlib
import importlib
import inspect
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

from django.apps import apps
from django.contrib import admin
from django.db import models as orm
from django.test.utils import override_settings
from django.urls import clear_url_caches

import recruit.models
import recruit.views
from dropin.library import api as library_api
from dropin.library.admin import BookAdmin
from dropin.library.models import Book

READ = re.compile(r"^# then read (?P<read>.+?), not (?P<instead>.+)$")


def endpoint(report: dict, kind: str) -> dict:
    """The report section of the route the test drives for `kind`."""
    for e in report["endpoints"]:
        route = e["endpoint"].split(" ", 1)[-1]
        if kind == "dashboard" and route == "dashboard/":
            return e
        if kind == "admin" and route == "admin/library/book/":
            return e
        if kind == "drf" and route.startswith("api/") and "books" in route and "<pk>" not in route:
            return e
    raise AssertionError(f"no {kind} endpoint in the report: {[e['endpoint'] for e in report['endpoints']]}")


def split_fix(fix: str) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(code lines, (read, instead) pairs, other comment lines) of a printed fix."""
    code, reads, comments = [], [], []
    for line in fix.split("\n"):
        m = READ.match(line)
        if m:
            reads.append((m["read"], m["instead"]))
        elif line.startswith("#"):
            comments.append(line)
        else:
            code.append(line)
    return code, reads, comments


def namespace() -> dict:
    """What a view module that pastes the fix imports: the models and django.db.models' expressions."""
    ns = {name: getattr(orm, name) for name in ("Avg", "Count", "Exists", "Max", "Min", "OuterRef", "Prefetch", "Sum")}
    ns["admin"] = admin
    for model in apps.get_models():
        ns.setdefault(model.__name__, model)
    return ns


def row_pattern(expr: str, row: str) -> tuple[str, str]:
    """A regex for `expr` with its row variable as a wildcard, quotes either way."""
    assert expr.startswith(f"{row}."), (expr, row)
    rest = re.escape(expr[len(row):]).replace("'", "['\"]")
    return rf"\b([A-Za-z_]\w*){rest}", row


def as_template(expr: str) -> str | None:
    """`application.notes.count()` -> `application.notes.count`; None when a template cannot say it."""
    if " " in expr or re.search(r"\([^)]", expr):
        return None
    return expr.replace("()", "").replace("[0]", ".0")


def apply_reads(reads, row: str, template: str, owners: list[type]) -> tuple[str, list]:
    """Applies each read to the template source or to a method / property of `owners`; returns the new
    template and the patches to install. Every read must replace something."""
    patches = []
    for read, instead in reads:
        pattern, _ = row_pattern(instead, row)
        replaced = False
        t_instead, t_read = as_template(instead), as_template(read)
        if t_instead is not None and t_read is not None:
            t_pattern, _ = row_pattern(t_instead, row)
            t_pattern += r"(?![\w.])"
            new = re.sub(t_pattern, lambda m: m.group(1) + t_read[len(row):], template)
            replaced, template = new != template, new
        for owner in owners:
            for name, attr in list(vars(owner).items()):
                func = attr.fget if isinstance(attr, property) else attr
                if not inspect.isfunction(func):
                    continue
                source = textwrap.dedent(inspect.getsource(func))
                if not re.search(pattern, source):
                    continue
                new_source = re.sub(pattern, lambda m: re.sub(rf"\b{row}\b", m.group(1), read), source)
                new_source = "\n".join(l for l in new_source.split("\n") if not l.lstrip().startswith("@"))
                scope = dict(vars(inspect.getmodule(func)))
                exec(compile(new_source, f"<pasted {owner.__name__}.{name}>", "exec"), scope)
                new_func = scope[func.__name__]
                patches.append((owner, name, property(new_func) if isinstance(attr, property) else new_func))
                replaced = True
        assert replaced, f"printed read {read!r} replaces {instead!r}, which no code of the app does"
    return template, patches


@contextlib.contextmanager
def patched(patches):
    saved = [(owner, name, vars(owner)[name]) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def templates_with(name: str, source: str) -> list:
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    ("django.template.loaders.locmem.Loader", {name: source}),
                    "django.template.loaders.app_directories.Loader",
                ],
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ],
            },
        }
    ]


@contextlib.contextmanager
def registered(admin_class):
    """`admin_class` serves Book's changelist; the URLconf is rebuilt so the new instance is routed."""
    urls = importlib.import_module("dropin.urls")
    admin.site.unregister(Book)
    admin.site.register(Book, admin_class)
    importlib.reload(urls)
    clear_url_caches()
    try:
        yield
    finally:
        admin.site.unregister(Book)
        admin.site.register(Book, BookAdmin)
        importlib.reload(urls)
        clear_url_caches()


class IdealBookAdmin(BookAdmin):
    """What a Django expert writes for this changelist: the optimum the pasted fix must reach."""

    list_select_related = ("author", "publisher")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_reviews=orm.Count("reviews"))

    @admin.display(description="Reviews")
    def review_count(self, obj):
        return obj.n_reviews


@contextlib.contextmanager
def optimum(kind: str):
    """The site as an expert fixes it by hand; yields the route to count (the dashboard's is the
    sample's optimised view, which has the seed's queryset)."""
    if kind == "dashboard":
        yield "/dashboard/optimised/"
    elif kind == "admin":
        with registered(IdealBookAdmin):
            yield None
    else:
        ideal = Book.objects.order_by("id").select_related("author", "publisher")
        with patched([(library_api.BookViewSet, "queryset", ideal)]):
            yield None


def dashboard_fix(e: dict):
    code, reads, _ = split_fix(e["fix"])
    assert len(code) == 1 and code[0].startswith("Application.objects"), e["fix"]
    queryset = eval(code[0], namespace())  # noqa: S307 - the printed fix is the code under test
    template_path = Path(recruit.__file__).parent / "templates" / "recruit" / "dashboard.html"
    template, patches = apply_reads(reads, "application", template_path.read_text(), [recruit.models.Application])
    # The view's `Application.objects.filter(...)` now starts from the pasted queryset.
    patches.append((recruit.views, "Application", SimpleNamespace(objects=queryset)))
    return override_settings(TEMPLATES=templates_with("recruit/dashboard.html", template)), patches


def admin_fix(e: dict):
    code, reads, comments = split_fix(e["fix"])
    ns = namespace()
    exec("\n".join(code), ns)  # noqa: S102 - the printed fix is the code under test
    printed = ns["BookAdmin"]
    assert printed is not BookAdmin and issubclass(printed, admin.ModelAdmin), e["fix"]
    list_display = list(BookAdmin.list_display)
    for line in comments:
        m = re.match(r"^# list_display: '(\w+)' in place of the column that reads (.+)$", line)
        if not m:
            continue
        pattern, _ = row_pattern(m[2], "book")
        columns = [
            name for name in list_display
            if callable(getattr(BookAdmin, name, None)) and re.search(pattern, inspect.getsource(getattr(BookAdmin, name)))
        ]
        assert len(columns) == 1, f"{line!r} names no single list_display column of BookAdmin"
        list_display[list_display.index(columns[0])] = m[1]
    _, patches = apply_reads(reads, "book", "", [BookAdmin])
    merged = type("BookAdmin", (printed, BookAdmin), {"list_display": tuple(list_display)})
    return registered(merged), patches


def drf_fix(e: dict):
    code, reads, _ = split_fix(e["fix"])
    ns = namespace()
    text = "\n".join(code)
    if text.startswith("queryset = "):
        exec(text, ns)  # noqa: S102
        queryset = ns["queryset"]
    else:
        queryset = eval(text, ns)  # noqa: S307
    _, patches = apply_reads(reads, "book", "", [library_api.BookSerializer])
    patches.append((library_api.BookViewSet, "queryset", queryset))
    return contextlib.nullcontext(), patches


@contextlib.contextmanager
def printed_fix(kind: str, e: dict):
    context, patches = {"dashboard": dashboard_fix, "admin": admin_fix, "drf": drf_fix}[kind](e)
    with context, patched(patches):
        yield
