"""Builds the n1lens Django schema (DESIGN.md, "Django schema file") from the models' `_meta`
and the URLconf.

The schema maps tables and columns seen in SQL back to model labels and relation names, so n1lens
can write `select_related('job__company')` rather than guess names from `job_id` columns, and lists
each model's fields so the annotations it names take none of theirs. Its `urls`
list every route with its view, so n1lens can name the views no request reaches (dead_view).

Which routes are the project's (`project` on each route; only those are judged dead): a route is
the project's when its view is the project's code, or when the project's own URLconf declares it
(`urlconf`: the module whose urlpatterns hold it). So `path("about/", TemplateView.as_view(...))` in
the project's urls.py is judged like a view it wrote, while the admin's and `django.contrib.auth.urls`'
routes, which come with Django whether used or not, are not. The project's code is every module
that no installed distribution ships, plus the distribution that ships ROOT_URLCONF's package: a
project deployed as a wheel is under site-packages like any package, and still its own. Django,
DRF, Wagtail and every other pip-installed package are not. `N1LENS_PROJECT_PACKAGES =
["recruit", "mysite"]` in settings names the project's packages instead, where that guess is wrong
(the project's apps split over several internal wheels). Views a framework generates into the
project's URLconf are not the project's either: DRF's DefaultRouter adds its API root
(`rest_framework.routers.APIRootView`) and `static()` adds `django.views.static.serve`; nobody wrote
them, and "delete this view" has nothing to delete.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import types
from collections.abc import Callable
from importlib.metadata import packages_distributions
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import translation

SCHEMA_VERSION = 1

Relation = dict[str, Any]


def build_schema(app_registry=django_apps) -> dict[str, Any]:
    """Return the schema dict for every installed model, sorted by model label then relation name.

    Example: `json.dumps(build_schema())` -> `{"n1lensSchema": 1, "models": [...]}`.
    """
    entries = [_model_entry(model) for model in app_registry.get_models()]
    entries.sort(key=lambda entry: entry["model"])
    schema: dict[str, Any] = {"n1lensSchema": SCHEMA_VERSION, "models": entries}
    if getattr(settings, "ROOT_URLCONF", None):
        schema["urls"] = build_urls()
    return schema


def build_urls(urlconf: str | None = None) -> list[dict[str, Any]]:
    """Every route of the URLconf, as the resolver joins it (what OpenTelemetry's Django
    instrumentation records as http.route), with its view's dotted path, source file and line, and
    the HTTP methods the view accepts where it says. Sorted by route, then view. A route that reads
    differently per language (i18n_patterns, translated patterns) has them all in `languages`.

    Example: `{"route": "dashboard/", "view": "recruit.views.dashboard", "file": "recruit/views.py", "line": 34}`.
    """
    # Views the app serves untraced (health checks, a tracing flush) would always look dead.
    ignored = set(getattr(settings, "N1LENS_IGNORE_VIEWS", ()))
    resolver = get_resolver(urlconf)
    patterns = resolver.url_patterns
    is_project = _project_modules()
    entries = {
        key: _url_entry(route, pattern, declared, is_project)
        for key, route, pattern, declared in _walk(patterns, "", (), _module_name(resolver.urlconf_name) or "")
    }
    for key, languages in _language_routes(patterns).items():
        if len(set(languages.values())) > 1:
            entries[key]["languages"] = languages
    out = [entry for entry in entries.values() if entry["view"] not in ignored]
    out.sort(key=lambda entry: (entry["route"], entry["view"]))
    return out


def _language_routes(patterns) -> dict[tuple, dict[str, str]]:
    """Each pattern's route in each of settings.LANGUAGES. Under i18n_patterns a request's route
    carries its own language's prefix (`fr/about/`), and a translated pattern (`_("about/")`) reads
    in it: the route exported in the command's language is only one of them."""
    if not settings.USE_I18N:
        return {}
    out: dict[tuple, dict[str, str]] = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            for key, route, _pattern, _declared in _walk(patterns, "", (), ""):
                out.setdefault(key, {})[code] = route
    return out


def _join_route(prefix: str, route: str) -> str:
    # Django's URLResolver._join_route: a nested regex's leading ^ goes.
    return route if not prefix else prefix + route.removeprefix("^")


def _walk(patterns, prefix: str, key: tuple, declared: str):
    """(key, route, pattern, declared) of each URLPattern, `declared` the URLconf module that holds it
    (_declared_in); the key (its place in the URLconf) is the same whatever language its route reads in."""
    for index, pattern in enumerate(patterns):
        route = _join_route(prefix, str(pattern.pattern))
        here = (*key, index)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route, here, _declared_in(pattern, declared))
        elif isinstance(pattern, URLPattern):
            yield here, route, pattern, declared


def _module_name(urlconf) -> str | None:
    if isinstance(urlconf, str):
        return urlconf
    return urlconf.__name__ if isinstance(urlconf, types.ModuleType) else None


def _declared_in(resolver: URLResolver, enclosing: str) -> str:
    """The module whose urlpatterns an include()'s patterns are: the module included by name or
    object; a list of patterns was written where it is included, unless its application namespace
    names an installed app (`admin.site.urls` is the admin's: app_name "admin")."""
    name = _module_name(resolver.urlconf_name)
    if name is not None:
        return name
    config = next((c for c in django_apps.get_app_configs() if c.label == resolver.app_name), None)
    return enclosing if config is None else config.name


def _project_modules() -> Callable[[str], bool]:
    """Whether a module is the project's code (the module header says which): settings'
    N1LENS_PROJECT_PACKAGES, else one no installed distribution ships, or one the distribution that
    ships ROOT_URLCONF's package ships (the project installed as a wheel)."""
    named = getattr(settings, "N1LENS_PROJECT_PACKAGES", None)
    if named is not None:
        prefixes = tuple(named)
        return lambda module: any(module == p or module.startswith(p + ".") for p in prefixes)
    shipped = packages_distributions()
    root = str(getattr(settings, "ROOT_URLCONF", "") or "").partition(".")[0]
    own = set(shipped.get(root, ()))

    def is_project(module: str) -> bool:
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names or top == "builtins":
            return False
        distributions = shipped.get(top)
        return not distributions or not own.isdisjoint(distributions)

    return is_project


# Modules whose views a framework puts into the project's URLconf for it (see the module docstring).
_GENERATED_VIEW_MODULES = frozenset({"rest_framework.routers", "django.views.static"})


def _url_entry(route: str, pattern: URLPattern, declared: str, is_project: Callable[[str], bool]) -> dict[str, Any]:
    view = pattern.callback
    # Django takes any callable: a functools.partial is named by the view it calls.
    while isinstance(view, functools.partial):
        view = view.func
    # Class-based views (Django's and DRF's) carry their class; function views may be decorated.
    target = getattr(view, "view_class", None) or getattr(view, "cls", None) or inspect.unwrap(view)
    if not (inspect.isroutine(target) or inspect.isclass(target)):
        target = type(target)  # a callable instance: its class
    entry: dict[str, Any] = {"route": route, "view": f"{target.__module__}.{target.__qualname__}"}
    if pattern.name:
        entry["name"] = pattern.name
    methods = _methods(view)
    if methods:
        entry["methods"] = methods
    location = _source(target)
    if location is not None:
        entry["file"], entry["line"] = location
    entry["urlconf"] = declared
    # The project's route: its view is the project's code, or its URLconf mounts it (a generic view),
    # unless a framework generated the route (a router's API root, static files).
    entry["project"] = is_project(target.__module__) or (
        declared != "" and is_project(declared) and target.__module__ not in _GENERATED_VIEW_MODULES
    )
    model = _view_model(target)
    if model is not None:
        entry["model"] = _label(model)
    return entry


def _view_model(target) -> type[models.Model] | None:
    """The model a class-based view says it lists or edits: its `model`, else its `queryset`'s (Django's
    generic views, DRF's generic views and viewsets). A proxy's rows are read through its own manager,
    so a fix for the view's queryset names that model, not the concrete one its table is."""
    if not inspect.isclass(target):
        return None
    model = getattr(target, "model", None)
    if not (inspect.isclass(model) and issubclass(model, models.Model)):
        model = getattr(getattr(target, "queryset", None), "model", None)
    return model if inspect.isclass(model) and issubclass(model, models.Model) else None


def _methods(view) -> list[str] | None:
    actions = getattr(view, "actions", None)  # DRF viewset: {"get": "list", "post": "create"}
    if isinstance(actions, dict) and actions:
        return sorted(method.upper() for method in actions)
    cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if cls is not None:
        names = getattr(cls, "http_method_names", [])
        # View.options exists on every class-based view: it says nothing about the view.
        return sorted(name.upper() for name in names if name != "options" and hasattr(cls, name)) or None
    # require_http_methods / require_POST / require_GET keep the list in their wrapper's closure.
    func = view
    while func is not None:
        try:
            allowed = inspect.getclosurevars(func).nonlocals.get("request_method_list")
        except TypeError:
            allowed = None
        if allowed:
            return sorted(allowed)
        func = getattr(func, "__wrapped__", None)
    return None


def _source(target) -> tuple[str, int] | None:
    try:
        path = inspect.getsourcefile(target)
        _, line = inspect.getsourcelines(target)
    except (OSError, TypeError):
        return None
    if path is None:
        return None
    base = str(getattr(settings, "BASE_DIR", os.getcwd()))
    relative = os.path.relpath(path, base)
    return (path if relative.startswith("..") else relative.replace(os.sep, "/")), line


def _label(model: type[models.Model]) -> str:
    # object_name keeps the class's case ("shop.OrderLine"); _meta.label_lower would not.
    return f"{model._meta.app_label}.{model._meta.object_name}"


def _properties(model: type[models.Model]) -> list[str]:
    """Names of the properties the model's classes and mixins define (Django's own Model's left out), sorted."""
    django_own = set(models.Model.__mro__)
    names = {
        name
        for klass in model.__mro__
        if klass not in django_own
        for name, value in vars(klass).items()
        if isinstance(value, property)
    }
    return sorted(names)


def _model_entry(model: type[models.Model]) -> dict[str, Any]:
    opts = model._meta
    relations = [
        relation for field in opts.get_fields() if (relation := _relation(model, field)) is not None
    ]
    relations.sort(key=lambda relation: relation["name"])
    entry: dict[str, Any] = {"model": _label(model), "table": opts.db_table, "pk": opts.pk.column, "relations": relations}
    # Additions (optional keys, so older readers of version 1 ignore them):
    # concrete fields (inherited ones included) by name and attname: an annotation or to_attr named
    # like one raises "conflicts with a field on the model", so n1lens names its own apart.
    entry["fields"] = sorted(
        ({"name": field.name, "attname": field.attname} for field in opts.concrete_fields),
        key=lambda field: field["name"],
    )
    # properties of the model's own classes: an annotation or to_attr named like one fails when Django
    # sets it on each row ("property ... has no setter").
    properties = _properties(model)
    if properties:
        entry["properties"] = properties
    # a model whose managers include none named `objects` (a custom manager declared instead): printed
    # fixes reach its rows through its default manager, since Model.objects does not exist.
    if "objects" not in {manager.name for manager in opts.managers}:
        entry["manager"] = opts.default_manager.name
    # a proxy shares its concrete model's table: that table's rows are the concrete model's, and a
    # proxy's label may sort before it (shop.BargainBook before shop.Book).
    if opts.proxy:
        entry["proxyFor"] = _label(opts.concrete_model)
    # multi-table-inheritance parents, nearest first: a queryset of the child may use their relations.
    parents = [_label(parent) for parent in opts.get_parent_list()]
    if parents:
        entry["parents"] = parents
    # Wagtail page models get the Wagtail profile's idioms (.specific(), defer_streamfields()).
    if WAGTAIL_PAGE in parents or _label(model) == WAGTAIL_PAGE:
        entry["wagtailPage"] = True
    generic = [_generic_foreign_key(field) for field in opts.private_fields if _is_generic_foreign_key(field)]
    if generic:
        entry["genericForeignKeys"] = sorted(generic, key=lambda g: g["name"])
    return entry


WAGTAIL_PAGE = "wagtailcore.Page"


def _is_generic_foreign_key(field) -> bool:
    # Duck-typed: importing contenttypes' fields needs the app installed, which a project may not have.
    return hasattr(field, "ct_field") and hasattr(field, "fk_field")


def _generic_foreign_key(field) -> dict[str, str]:
    """`content_object = GenericForeignKey()`: prefetch_related('content_object') loads its targets."""
    opts = field.model._meta
    return {
        "name": field.name,
        "contentTypeColumn": opts.get_field(field.ct_field).column,
        "objectIdColumn": opts.get_field(field.fk_field).column,
    }


def _relation(model: type[models.Model], field) -> Relation | None:
    if not field.is_relation or field.related_model is None:
        return None  # plain columns, and GenericForeignKey (no single target model)
    relation = _reverse(field) if isinstance(field, models.ForeignObjectRel) else _forward(field)
    if relation is None:
        return None
    # A multi-table-inheritance child inherits its parents' relations, whose columns live in the
    # parent's table: say which model holds them. (`model` of a forward field is the model that
    # declares it; of a reverse relation, the model pointed at.) Proxies share their table.
    home = field.model._meta.concrete_model
    if home is not model._meta.concrete_model:
        relation["inheritedFrom"] = _label(home)
    return relation


def _forward(field: models.Field) -> Relation | None:
    def relation(kind: str, **columns: str) -> Relation:
        target = _label(field.related_model)
        return {"name": field.name, "queryName": field.name, "kind": kind, "target": target, **columns}

    if _is_generic_relation(field):
        # GenericRelation: a reverse relation through (content_type, object_id) on the target.
        target_opts = field.related_model._meta
        return {
            "name": field.name,
            "queryName": field.name,
            "kind": "one_to_many",
            "target": _label(field.related_model),
            "remoteColumn": target_opts.get_field(field.object_id_field_name).column,
            "contentTypeColumn": target_opts.get_field(field.content_type_field_name).column,
        }
    # ManyToManyField, and managers that behave like one (django-taggit's TaggableManager and
    # modelcluster's ClusterTaggableManager, with a custom through model): same join-table columns.
    if isinstance(field, models.ManyToManyField) or (field.many_to_many and hasattr(field, "m2m_db_table")):
        return relation(
            "many_to_many",
            through=field.m2m_db_table(),
            sourceColumn=field.m2m_column_name(),
            targetColumn=field.m2m_reverse_name(),
        )
    if isinstance(field, models.ForeignKey):  # OneToOneField is a ForeignKey subclass
        return relation("one_to_one" if field.one_to_one else "many_to_one", column=field.column, **_to_field(field))
    return None  # other ForeignObjects without one FK column


def _to_field(field: models.ForeignKey) -> dict[str, str]:
    """A foreign key to a unique field other than the primary key (`to_field`): that field's name and
    column, on the model pointed at. Its column holds that field's values, so the row is looked up by
    it (`Currency.objects.get(code=invoice.currency_id)`) and a subquery compares with it."""
    target = field.target_field
    if target.primary_key:
        return {}
    return {"toField": target.name, "toFieldColumn": target.column}


def _is_generic_relation(field) -> bool:
    return hasattr(field, "object_id_field_name") and hasattr(field, "content_type_field_name")


def _reverse(rel: models.ForeignObjectRel) -> Relation | None:
    if rel.hidden:
        return None  # related_name='+' or symmetrical self-M2M: no accessor to prefetch through
    field = rel.field

    def relation(kind: str, **columns: str) -> Relation:
        return {
            "name": rel.get_accessor_name(),
            "queryName": field.related_query_name(),
            "kind": kind,
            "target": _label(rel.related_model),
            **columns,
        }

    if isinstance(rel, models.ManyToManyRel):
        # The same through table seen from the other end: its source column points at this model.
        return relation(
            "many_to_many",
            through=field.m2m_db_table(),
            sourceColumn=field.m2m_reverse_name(),
            targetColumn=field.m2m_column_name(),
        )
    if isinstance(rel, models.ManyToOneRel) and isinstance(field, models.ForeignKey):
        return relation("one_to_one" if rel.one_to_one else "one_to_many", remoteColumn=field.column, **_to_field(field))
    return None
