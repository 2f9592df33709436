"""OpenTelemetry for a Django app in one call, plus the span processor that tells n1lens which line
of the app issued each query.

    from n1lens_django.tracing import setup
    setup()                     # before get_wsgi_application() / execute_from_command_line()

Attributes CodeLocationSpanProcessor adds to a DB client span (only those it can tell):

    code.file.path, code.line.number,   the innermost application frame: the file relative to
    code.function.name                  BASE_DIR, its line, and `module.qualname` of its function
    n1lens.view                         the Django view the request resolved to (`module.qualname`)
    n1lens.template.path,               the innermost application template being rendered (path
    n1lens.template.line                relative to BASE_DIR, else its loader name) and the line
                                        of the node that was rendering
    n1lens.drf.serializer,              the Django REST framework serializer class and field
    n1lens.drf.field,                   whose value was being read, and where that field (else the
    n1lens.drf.file, n1lens.drf.line    class) is defined
    n1lens.admin.model_admin,           the ModelAdmin of an admin changelist, the `list_display`
    n1lens.admin.list_display,          entry whose cell was being rendered, and where that entry
    n1lens.admin.file, n1lens.admin.line  (or the ModelAdmin) is defined

It works in on_start: the span is still writable there and the call stack is the query's own.
on_end hands processors a read-only span, and a BatchSpanProcessor exports from its own thread,
where the app's stack is gone.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import logging
import os
import re
import sys
import sysconfig
import threading
import types

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

__all__ = ["CodeLocationSpanProcessor", "DatabaseTracing", "database_tracing", "exporter_from_environment", "setup", "untraced_databases"]

_logger = logging.getLogger(__name__)

# Instrumentation scopes whose CLIENT spans are database calls. A span from any other scope counts
# when it carries db.system(.name) at start.
DB_INSTRUMENTATION_SCOPES = frozenset(
    "opentelemetry.instrumentation." + name
    for name in ("dbapi", "psycopg", "psycopg2", "sqlite3", "mysqlclient", "pymysql", "mysql", "django")
)

# What a code object is, for the stack walk (cached per code object).
_LIBRARY = 0  # stdlib, site-packages, Django, OpenTelemetry, n1lens itself: skipped
_APP = 1  # a file under BASE_DIR: a candidate for code.*
_TEMPLATE_NODE = 2  # django.template.base.Node.render_annotated
_DRF_FIELD = 3  # rest_framework Field.get_attribute / *.to_representation
_ADMIN_CELL = 4  # django.contrib.admin.templatetags.admin_list.items_for_result
_ADMIN_RESULTS = 5  # admin_list.results: the changelist's rows being read
_REQUEST_HANDLER = 6  # BaseHandler._get_response: the view is in its locals; nothing outer matters

# BaseHandler's method is the only _get_response in django/core/handlers/base.py. Code objects are
# matched by co_name: co_qualname (with the class) is Python 3.11+, and the integration runs on 3.10.
_HANDLER_METHODS = frozenset({"_get_response"})

# Under ASGI a request's queries run in asgiref's threads (sync views, and the async ORM of async
# views), whose stacks never reach the handler coroutine that resolved the view, so no frame names
# it. BaseHandler.get_response_async puts a holder in the request's context for the callback
# resolve_request finds; asgiref copies the context into those threads.
_ASYNC_VIEW: contextvars.ContextVar[list | None] = contextvars.ContextVar("n1lens_async_view", default=None)


def _note_async_views() -> None:
    """Wraps BaseHandler.get_response_async and resolve_request (once per process) for _ASYNC_VIEW."""
    try:
        from django.core.handlers.base import BaseHandler
    except ImportError:
        return
    if getattr(BaseHandler.get_response_async, "_n1lens", False):
        return
    get_response_async = BaseHandler.get_response_async
    resolve = BaseHandler.resolve_request

    @functools.wraps(get_response_async)
    async def get_response_async_noting_the_view(self, request):
        token = _ASYNC_VIEW.set([])
        try:
            return await get_response_async(self, request)
        finally:
            _ASYNC_VIEW.reset(token)  # nothing stays behind for what the task runs next

    @functools.wraps(resolve)
    def resolve_request_noting_the_view(self, request):
        match = resolve(self, request)
        holder = _ASYNC_VIEW.get()
        if holder is not None:  # an ASGI request; WSGI's _get_response is on its queries' stacks
            holder[:] = [match.func]
        return match

    get_response_async_noting_the_view._n1lens = True
    BaseHandler.get_response_async = get_response_async_noting_the_view
    BaseHandler.resolve_request = resolve_request_noting_the_view
_DRF_METHODS = ("get_attribute", "to_representation")


def _is_method(code: types.CodeType) -> bool:
    """A function whose first parameter is `self`: a method (not a comprehension or a lambda),
    told without co_qualname, which Python 3.10 lacks."""
    return code.co_argcount > 0 and code.co_varnames[0] == "self" and not code.co_name.startswith("<")


def _functions_in(member) -> list:
    """The functions a class attribute may run: itself, a classmethod's or staticmethod's function,
    a property's getter, a cached_property's function, and what each wraps (functools.wraps)."""
    found = []
    for candidate in (member, getattr(member, "__func__", None), getattr(member, "fget", None), getattr(member, "func", None)):
        for _ in range(8):
            if candidate is None:
                break
            found.append(candidate)
            candidate = getattr(candidate, "__wrapped__", None)
    return found


def qualname_from_locals(code: types.CodeType, local_vars) -> str:
    """What co_qualname (Python 3.11+) says, for Python 3.10: `Class.method` when the frame's first
    parameter is `self` or `cls` and a class in its MRO holds this code as that attribute (the class
    that defines it, not a subclass), else the bare function name."""
    if code.co_argcount > 0 and code.co_varnames[0] in ("self", "cls"):
        owner = local_vars.get(code.co_varnames[0])
        klass = owner if isinstance(owner, type) and code.co_varnames[0] == "cls" else type(owner)
        for candidate in getattr(klass, "__mro__", ()):
            member = candidate.__dict__.get(code.co_name)
            if member is not None and any(getattr(f, "__code__", None) is code for f in _functions_in(member)):
                return f"{candidate.__qualname__}.{code.co_name}"
    return code.co_name


def application_base_dir() -> str:
    """The directory application files are named from: settings.BASE_DIR, else the working directory
    (absolute). The pytest plugin hands it to n1-report (--base-dir), whose SARIF and annotations name
    files from the repository root."""
    base = None
    try:
        from django.conf import settings

        if settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE"):
            base = getattr(settings, "BASE_DIR", None)
    except Exception:  # settings module broken: fall back, never break a query
        base = None
    return os.path.abspath(base if base is not None else os.getcwd())


class CodeLocationSpanProcessor(SpanProcessor):
    """Adds where a query was issued to every DB client span (see the module docstring).

    base_dir: the application's root (default: settings.BASE_DIR, else the working directory);
    only files under it count as application code, and paths are reported relative to it.
    """

    def __init__(self, base_dir: str | os.PathLike | None = None):
        self._base_dir = os.path.abspath(base_dir) if base_dir is not None else None
        # Keyed by id(): hashing a code object hashes its bytecode and constants on every call.
        # _kept holds the code objects, so an id is never reused for another while cached.
        self._codes: dict[int, int] = {}
        self._kept: list[types.CodeType] = []
        self._files: dict[str, str | None] = {}  # absolute file -> path relative to BASE_DIR, or None
        self._scopes: dict[str, bool] = {}
        self._views: dict[object, str | None] = {}
        self._nodes: dict[int, tuple[object, tuple[str, int] | None]] = {}
        self._members: dict[tuple[type, str], tuple[str, int] | None] = {}
        self._qualnames: dict[int, str] = {}  # id(code) -> qualname_from_locals, on Python 3.10
        self._library_roots: tuple[str, ...] | None = None
        self._lock = threading.Lock()
        _note_async_views()

    # --- SpanProcessor ---------------------------------------------------------------------------

    def on_start(self, span, parent_context=None) -> None:
        if span.kind is not SpanKind.CLIENT or not self._is_db_span(span):
            return
        try:
            attributes = self.locate(sys._getframe(1))
        except Exception:  # a location is never worth failing the app's query for
            _logger.debug("n1lens: could not locate a query", exc_info=True)
            return
        if attributes:
            span.set_attributes(attributes)

    def on_end(self, span) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # --- the stack walk --------------------------------------------------------------------------

    def locate(self, frame: types.FrameType | None) -> dict[str, str | int]:
        """The location attributes for a query issued with this stack (innermost frame first)."""
        get_kind = self._codes.get
        identity = id
        app = template = drf = admin = None
        view = None
        while frame is not None:
            code = frame.f_code
            kind = get_kind(identity(code))
            if kind is None:
                kind = self._classify(code)
            if kind:
                if kind == _APP:
                    if app is None:
                        app = (code, frame.f_lineno, frame.f_globals.get("__name__", ""), frame)
                elif kind == _TEMPLATE_NODE:
                    if template is None:
                        template = self._template_of(frame.f_locals.get("self"))
                elif kind == _DRF_FIELD:
                    if drf is None:
                        drf = self._serializer_field_of(frame.f_locals.get("self"))
                elif kind == _ADMIN_CELL:
                    if admin is None:
                        local = frame.f_locals
                        admin = self._admin_entry_of(local.get("cl"), local.get("field_name"))
                elif kind == _ADMIN_RESULTS:
                    if admin is None:
                        admin = self._admin_entry_of(frame.f_locals.get("cl"), None)
                else:  # _REQUEST_HANDLER
                    view = self._view_of(frame.f_locals.get("callback"))
                    break
            frame = frame.f_back
        else:  # no handler on the stack: an ASGI request's thread, or no request at all
            resolved = _ASYNC_VIEW.get()
            if resolved:
                view = self._view_of(resolved[0])

        attributes: dict[str, str | int] = {}
        if app is not None:
            code, line, module, app_frame = app
            attributes["code.file.path"] = self._files[code.co_filename]
            attributes["code.line.number"] = line
            qualname = self._qualname(code, app_frame)
            attributes["code.function.name"] = f"{module}.{qualname}" if module else qualname
        if view:
            attributes["n1lens.view"] = view
        if template:
            attributes["n1lens.template.path"], attributes["n1lens.template.line"] = template
        if drf:
            serializer, field, where = drf
            attributes["n1lens.drf.serializer"] = serializer
            if field:
                attributes["n1lens.drf.field"] = field
            if where:
                attributes["n1lens.drf.file"], attributes["n1lens.drf.line"] = where
        if admin:
            model_admin, entry, where = admin
            attributes["n1lens.admin.model_admin"] = model_admin
            if entry:
                attributes["n1lens.admin.list_display"] = entry
            if where:
                attributes["n1lens.admin.file"], attributes["n1lens.admin.line"] = where
        return attributes

    def _qualname(self, code: types.CodeType, frame: types.FrameType) -> str:
        """code's qualified name: co_qualname, or on Python 3.10 what self/cls in frame say (cached)."""
        qualname = getattr(code, "co_qualname", None)
        if qualname is not None:
            return qualname
        try:
            return self._qualnames[id(code)]
        except KeyError:
            pass
        qualname = qualname_from_locals(code, frame.f_locals)
        with self._lock:
            self._qualnames[id(code)] = qualname  # code is in _kept (classified): its id stays its own
        return qualname

    def _classify(self, code: types.CodeType) -> int:
        filename = code.co_filename
        name = code.co_name
        kind = _LIBRARY
        if filename.endswith(os.path.join("django", "template", "base.py")):
            if name == "render_annotated":
                kind = _TEMPLATE_NODE
        elif filename.endswith(os.path.join("django", "core", "handlers", "base.py")):
            if name in _HANDLER_METHODS and _is_method(code):
                kind = _REQUEST_HANDLER
        elif filename.endswith(os.path.join("contrib", "admin", "templatetags", "admin_list.py")):
            if name == "items_for_result":
                kind = _ADMIN_CELL
            elif name == "results":
                kind = _ADMIN_RESULTS
        elif os.sep + "rest_framework" + os.sep in filename:
            # Methods only: fields.get_attribute(instance, attrs) is a module function with no
            # field to read, and comprehensions inside them have no `self`.
            if name in _DRF_METHODS and _is_method(code):
                kind = _DRF_FIELD
        elif self._relative(filename) is not None:
            kind = _APP
        with self._lock:
            self._kept.append(code)
            self._codes[id(code)] = kind
        return kind

    def _relative(self, filename: str) -> str | None:
        """filename relative to BASE_DIR when it is application code, else None (cached)."""
        try:
            return self._files[filename]
        except KeyError:
            pass
        relative = None
        if not filename.startswith("<"):
            path = os.path.abspath(filename)
            base = self._base()
            in_library = any(path.startswith(root) for root in self._library()) or (
                os.sep + "site-packages" + os.sep in path or os.sep + "dist-packages" + os.sep in path
            )
            if not in_library and path.startswith(base + os.sep):
                relative = os.path.relpath(path, base).replace(os.sep, "/")
        self._files[filename] = relative
        return relative

    def _base(self) -> str:
        if self._base_dir is None:
            self._base_dir = application_base_dir()
        return self._base_dir

    def _library(self) -> tuple[str, ...]:
        if self._library_roots is None:
            paths = sysconfig.get_paths()
            roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
            roots.add(os.path.dirname(os.path.abspath(__file__)))  # n1lens_django itself
            self._library_roots = tuple(os.path.abspath(root) + os.sep for root in roots)
        return self._library_roots

    # --- what the framework frames say -----------------------------------------------------------

    def _template_of(self, node) -> tuple[str, int] | None:
        # Parsed templates are cached by Django's loader, so the same node objects render on every
        # request: remember each node's answer (the node is kept with it, so its id stays its own).
        known = self._nodes.get(id(node))
        if known is not None and known[0] is node:
            return known[1]
        found = self._read_template(node)
        if len(self._nodes) >= 4096:
            self._nodes.clear()  # templates parsed per render (the non-cached loader): stay bounded
        self._nodes[id(node)] = (node, found)
        return found

    def _read_template(self, node) -> tuple[str, int] | None:
        origin = getattr(node, "origin", None)
        token = getattr(node, "token", None)
        if origin is None or token is None:
            return None
        name = getattr(origin, "name", None)
        relative = self._relative(name) if isinstance(name, str) else None
        if relative is None:
            return None  # a library's template (admin, DRF): keep looking outward for the app's
        return relative, token.lineno

    def _serializer_field_of(self, field):
        """(serializer, field, (file, line)) for a DRF field frame, or None to keep looking."""
        if field is None:
            return None
        parent = getattr(field, "parent", None)
        name = getattr(field, "field_name", None)
        if parent is not None:
            if not name:
                return None  # a ListSerializer's child: the field that holds the list is outer
            serializer = type(parent)
            member = getattr(field, "method_name", None) or name
            return serializer.__qualname__, name, self._member_line(serializer, member)
        child = getattr(field, "child", None)  # a top-level ListSerializer: many=True
        serializer = type(child) if child is not None else type(field)
        return serializer.__qualname__, None, self._member_line(serializer, None)

    def _admin_entry_of(self, changelist, entry):
        model_admin = getattr(changelist, "model_admin", None)
        if model_admin is None:
            return None
        admin_class = type(model_admin)
        if callable(entry):
            code = getattr(entry, "__code__", None)
            name = getattr(entry, "__name__", repr(entry))
            where = None
            if code is not None and self._relative(code.co_filename) is not None:
                where = (self._relative(code.co_filename), code.co_firstlineno)
            return admin_class.__qualname__, name, where or self._member_line(admin_class, "list_display")
        if entry is None:
            return admin_class.__qualname__, None, self._member_line(admin_class, None)
        where = self._member_line(admin_class, entry) if hasattr(admin_class, entry) else None
        return admin_class.__qualname__, entry, where or self._member_line(admin_class, "list_display")

    def _member_line(self, cls: type, member: str | None) -> tuple[str, int] | None:
        """Where `member` (an attribute or method) of cls, or cls itself, is defined in app code."""
        key = (cls, member or "")
        try:
            return self._members[key]
        except KeyError:
            pass
        found = None
        for klass in cls.__mro__:
            where = self._find_in_class(klass, member)
            if where is not None:
                found = where
                break
        if found is None and member is not None:
            found = self._member_line(cls, None)
        with self._lock:
            self._members[key] = found
        return found

    def _find_in_class(self, klass: type, member: str | None) -> tuple[str, int] | None:
        module = sys.modules.get(klass.__module__)
        filename = getattr(module, "__file__", None)
        if not filename or self._relative(filename) is None:
            return None
        try:
            lines, start = inspect.findsource(klass)
        except (OSError, TypeError):
            return None
        header = re.compile(rf"^\s*class\s+{re.escape(klass.__name__)}\b")
        while start < len(lines) - 1 and not header.match(lines[start]):
            start += 1  # past decorators
        if member is None:
            return self._relative(filename), start + 1
        indent = None
        pattern = re.compile(rf"^\s+(?:def\s+{re.escape(member)}\b|{re.escape(member)}\s*[:=])")
        for number in range(start + 1, len(lines)):
            text = lines[number]
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            current = len(text) - len(text.lstrip())
            if indent is None:
                indent = current
            if current < indent:
                break  # the class body ended
            if current == indent and pattern.match(text):
                return self._relative(filename), number + 1
        return None

    def _view_of(self, callback) -> str | None:
        if callback is None:
            return None
        try:
            return self._views[callback]
        except KeyError:
            pass
        except TypeError:  # unhashable callback
            return None
        target = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if target is None:
            target = callback
            for _ in range(32):  # follow functools.wraps down to the view, stopping at a bound method
                owner = getattr(target, "__self__", None)
                if owner is not None and not isinstance(owner, (type, types.ModuleType)):
                    # e.g. an admin view: name the ModelAdmin subclass, not ModelAdmin
                    name = f"{type(owner).__module__}.{type(owner).__qualname__}.{target.__name__}"
                    self._views[callback] = name
                    return name
                inner = getattr(target, "__wrapped__", None)
                if inner is None:
                    break
                target = inner
        module = getattr(target, "__module__", None)
        qualname = getattr(target, "__qualname__", None)
        name = f"{module}.{qualname}" if module and qualname else None
        self._views[callback] = name
        return name

    def _is_db_span(self, span) -> bool:
        scope = span.instrumentation_scope
        name = scope.name if scope is not None else ""
        known = self._scopes.get(name)
        if known is None:
            known = self._scopes[name] = name in DB_INSTRUMENTATION_SCOPES
        if known:
            return True
        attributes = span.attributes
        return bool(attributes) and ("db.system" in attributes or "db.system.name" in attributes)


# --- one-step set-up ------------------------------------------------------------------------------

_setup_lock = threading.Lock()

# The DB-API drivers Django's backends use, and the instrumentation that traces each:
# driver module -> (instrumentation module, instrumentor class, its pip package). Each is switched
# on when both are installed.
_DB_INSTRUMENTORS = {
    "psycopg": ("opentelemetry.instrumentation.psycopg", "PsycopgInstrumentor", "opentelemetry-instrumentation-psycopg"),
    "psycopg2": ("opentelemetry.instrumentation.psycopg2", "Psycopg2Instrumentor", "opentelemetry-instrumentation-psycopg2"),
    "sqlite3": ("opentelemetry.instrumentation.sqlite3", "SQLite3Instrumentor", "opentelemetry-instrumentation-sqlite3"),
    "MySQLdb": ("opentelemetry.instrumentation.mysqlclient", "MySQLClientInstrumentor", "opentelemetry-instrumentation-mysqlclient"),
    # PyMySQL standing in for MySQLdb (pymysql.install_as_MySQLdb()): Django calls pymysql.connect.
    "pymysql": ("opentelemetry.instrumentation.pymysql", "PyMySQLInstrumentor", "opentelemetry-instrumentation-pymysql"),
}

# The n1lens-django extra that installs a driver's instrumentation (pyproject.toml).
_EXTRAS = {"psycopg": "postgresql", "psycopg2": "psycopg2", "MySQLdb": "mysql"}


def setup(*, service_name: str | None = None, exporter=None) -> TracerProvider:
    """Trace this Django process for n1lens; safe to call more than once. Returns the provider.

    - Provider: the process's own SDK TracerProvider when one is already set (its exporters stay
      as they are; `exporter`, if given, is added), else a new one, installed globally, whose
      resource comes from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (service_name overrides).
    - Exporter, for a new provider: `exporter`, else OTLP per OTEL_TRACES_EXPORTER (otlp, console,
      none) and OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL (http/protobuf, the default, or grpc); the
      OTLP exporters read their endpoint, headers and compression from OTEL_EXPORTER_OTLP_*.
      Spans are batched (OTEL_BSP_*).
    - Instruments Django (with sqlcommenter), whichever of psycopg, psycopg2, sqlite3,
      mysqlclient and PyMySQL are installed with their opentelemetry-instrumentation-* package,
      and requests; an instrumentation already on is left alone.
    - Adds CodeLocationSpanProcessor once.
    - Runs each unittest test method (`manage.py test`) inside a root span of its own, named as
      pytest names the test, with its test-client requests below it (n1lens_django.testing).
    - Logs a warning, once per process, for each settings.DATABASES alias whose driver is not
      traced (its instrumentation package missing), with the pip line that fixes it: such a
      database's queries never reach n1lens. `pytest --n1lens` refuses to run instead
      (untraced_databases()).

    Call it before Django builds its WSGI handler (top of wsgi.py, or manage.py before
    execute_from_command_line): the Django instrumentation adds its middleware to the settings.
    Forking servers: the batch processor restarts its export thread in each child through
    os.register_at_fork, so gunicorn (with or without --preload) needs nothing more. uWSGI forks
    without Python's fork hooks: use `lazy-apps = true`, or call setup() in a @postfork function.
    """
    with _setup_lock:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
            if exporter is not None and not getattr(provider, "_n1lens_exporter_added", False):
                provider.add_span_processor(BatchSpanProcessor(exporter))
                provider._n1lens_exporter_added = True
        else:
            resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
            provider = TracerProvider(resource=resource)
            chosen = exporter if exporter is not None else exporter_from_environment()
            if chosen is not None:
                provider.add_span_processor(BatchSpanProcessor(chosen))
            provider._n1lens_exporter_added = exporter is not None
            trace.set_tracer_provider(provider)
            provider = trace.get_tracer_provider()  # whoever won, should another thread race us

        if not getattr(provider, "_n1lens_locations", False):
            provider.add_span_processor(CodeLocationSpanProcessor())
            provider._n1lens_locations = True
        _instrument(provider)
        _warn_untraced_databases()
        # `manage.py test`: each test method a request of its own, as under pytest --n1lens.
        from n1lens_django.testing import trace_test_methods

        trace_test_methods()
        return provider


def exporter_from_environment():
    """The span exporter the OTEL_* variables ask for (see setup()), or None for `none`."""
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if kind == "none":
        return None
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r}: n1lens_django.tracing supports otlp, console, none")
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use http/protobuf or grpc")
    return OTLPSpanExporter()


def _installed(module: str) -> bool:
    """Whether `module` can be imported (None in sys.modules counts as not installed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _instrument(provider: TracerProvider) -> None:
    installed = _installed

    def turn_on(module: str, class_name: str, **options) -> None:
        if not installed(module):
            return
        instrumentor = getattr(importlib.import_module(module), class_name)()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider, **options)

    # Django's sqlcommenter puts controller, route and traceparent into every statement. The
    # drivers' own commenters stay off: with both on, each query would carry two comments.
    turn_on("opentelemetry.instrumentation.django", "DjangoInstrumentor", is_sql_commentor_enabled=True)
    for library, (module, class_name, _package) in _DB_INSTRUMENTORS.items():
        if installed(library):
            turn_on(module, class_name)
    if installed("requests"):
        turn_on("opentelemetry.instrumentation.requests", "RequestsInstrumentor")
    if installed("sqlite3") and installed("opentelemetry.instrumentation.dbapi"):
        _let_sqlite_backup_take_traced_connections()


def _let_sqlite_backup_take_traced_connections() -> None:
    """sqlite3's Connection.backup() refuses any target that is not a real sqlite3 Connection, and
    the instrumented sqlite3.connect() returns a proxy: `manage.py test --parallel` under the spawn
    start method (macOS's default) copies each worker's SQLite test database with backup() and
    failed with "backup() argument 'target' must be sqlite3.Connection". The proxy's backup()
    hands the real connection on."""
    from opentelemetry.instrumentation.dbapi import TracedConnectionProxy

    if "backup" in TracedConnectionProxy.__dict__:
        return

    def backup(self, target, *args, **kwargs):
        return self.__wrapped__.backup(getattr(target, "__wrapped__", target), *args, **kwargs)

    TracedConnectionProxy.backup = backup


# --- which configured databases are traced ------------------------------------------------------
#
# A database whose driver has no instrumentation sends no query spans: n1lens then sees requests
# without queries and finds nothing, which reads as "no N+1" (a CI gate that never fails). So the
# integration reads settings.DATABASES, tells which driver each alias goes through, and says so
# when that driver is not traced.


@dataclasses.dataclass(frozen=True)
class DatabaseTracing:
    """What n1lens_django knows of one settings.DATABASES alias.

    vendor: postgresql, mysql, sqlite, or the backend's own vendor name ('' when it cannot be told).
    driver: the DB-API module Django's backend uses (psycopg, psycopg2, MySQLdb, pymysql, sqlite3),
    None when n1lens knows no instrumentation for it (or the driver itself is missing: Django says so).
    package: the instrumentation's pip package; installed: it can be imported; traced: its
    instrumentor is switched on. problem: what is wrong, one line with the fix, or None.
    """

    alias: str
    engine: str
    vendor: str
    driver: str | None
    package: str | None
    installed: bool
    traced: bool
    problem: str | None

    @property
    def known(self) -> bool:
        """Whether n1lens knows how this database is traced (so an untraced one is a certain gap)."""
        return self.package is not None


def _vendor(engine: str) -> str:
    """The database an ENGINE talks to: by its name for Django's own backends and the usual
    wrappers of them (PostGIS, django-tenants, connection pools), else the backend's vendor."""
    name = engine.lower()
    for vendor, marks in (("postgresql", ("postgres", "postgis")), ("mysql", ("mysql",)), ("sqlite", ("sqlite", "spatialite"))):
        if any(mark in name for mark in marks):
            return vendor
    try:  # as Django loads a backend: ENGINE.base.DatabaseWrapper
        return str(getattr(importlib.import_module(engine + ".base").DatabaseWrapper, "vendor", "") or "")
    except Exception:  # a backend that cannot load here fails in Django with its own error
        return ""


def _driver(vendor: str) -> str | None:
    """The DB-API module Django's backend for `vendor` uses in this process, None when it has none."""
    if vendor == "sqlite":
        return "sqlite3"
    if vendor == "postgresql":
        try:  # Django's own choice: psycopg (3) when it imports, else psycopg2
            from django.db.backends.postgresql.psycopg_any import is_psycopg3
        except ImportError:
            return None
        return "psycopg" if is_psycopg3 else "psycopg2"
    if vendor == "mysql":
        try:
            import MySQLdb
        except ImportError:
            return None
        return "pymysql" if MySQLdb.__name__.startswith("pymysql") else "MySQLdb"
    return None


def _instrumentation_version() -> str | None:
    """The installed opentelemetry-instrumentation's version: the contrib instrumentations are
    released together, so a driver's instrumentation is pinned to it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opentelemetry-instrumentation")
    except PackageNotFoundError:
        return None


def _install_line(driver: str, package: str) -> str:
    pinned = _instrumentation_version()
    line = f"pip install {package}=={pinned}" if pinned else f"pip install {package}"
    extra = _EXTRAS.get(driver)
    return f"{line}   (or: pip install 'n1lens-django[{extra}]')" if extra else line


def _describe(alias: str, engine: str) -> DatabaseTracing:
    vendor = _vendor(engine)
    driver = _driver(vendor)
    where = f"DATABASES[{alias!r}] ({engine})"
    if driver is None:
        problem = None
        if vendor not in ("postgresql", "mysql", "sqlite"):
            problem = (
                f"n1lens: {where}: n1lens_django traces PostgreSQL, MySQL and SQLite only, so this database's "
                "queries are not checked unless the project traces its driver itself"
            )
        return DatabaseTracing(alias, engine, vendor, None, None, False, False, problem)
    module, class_name, package = _DB_INSTRUMENTORS[driver]
    if not _installed(module):
        return DatabaseTracing(
            alias, engine, vendor, driver, package, False, False,
            f"n1lens: {where} runs its queries through {driver}, and {package} is not installed: none of "
            f"them is traced, so n1lens would find no N+1 there. Install it:\n    {_install_line(driver, package)}",
        )
    try:
        instrumentor = getattr(importlib.import_module(module), class_name)()
    except Exception as error:  # installed, but broken beside this driver
        return DatabaseTracing(
            alias, engine, vendor, driver, package, False, False,
            f"n1lens: {where} runs its queries through {driver}, and {package} is installed but cannot be "
            f"imported ({type(error).__name__}: {error}): none of them is traced, so n1lens would find no N+1 there",
        )
    if instrumentor.is_instrumented_by_opentelemetry:
        return DatabaseTracing(alias, engine, vendor, driver, package, True, True, None)
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts(_dependencies_of(instrumentor))
    why = (
        f"it refuses this {driver}: {conflict}" if conflict is not None
        else "n1lens_django.tracing.setup() has not run in this process"
    )
    return DatabaseTracing(
        alias, engine, vendor, driver, package, True, False,
        f"n1lens: {where} runs its queries through {driver}, and {package} is installed but not switched on "
        f"({why}), so none of them is traced and n1lens would find no N+1 there",
    )


def _dependencies_of(instrumentor) -> list[str]:
    try:
        return list(instrumentor.instrumentation_dependencies())
    except Exception:
        return []


def _configured_databases() -> dict | None:
    """settings.DATABASES, or None while Django's settings cannot be read yet."""
    try:
        from django.conf import settings

        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return None
        return dict(settings.DATABASES)
    except Exception:  # settings that fail to load fail Django itself, louder than this could
        return None


def database_tracing(databases: dict | None = None) -> list[DatabaseTracing]:
    """How each alias of `databases` (default: settings.DATABASES) is traced, in settings order;
    [] when Django's settings cannot be read yet. Django's dummy backend (no DATABASES) is left out."""
    if databases is None:
        databases = _configured_databases() or {}
    found = []
    for alias, options in databases.items():
        engine = str((options or {}).get("ENGINE") or "")
        if engine and not engine.endswith(".dummy"):
            found.append(_describe(str(alias), engine))
    return found


def untraced_databases(databases: dict | None = None) -> list[DatabaseTracing]:
    """The aliases of database_tracing() that have a problem (see DatabaseTracing.known)."""
    return [d for d in database_tracing(databases) if d.problem is not None]


_warned = False


def _warn_untraced_databases() -> None:
    """Logs, once per process, each configured database whose queries are not traced. setup()
    calls it, under its lock, after the instrumentations, which read the settings (Django's needs
    DJANGO_SETTINGS_MODULE set before setup() runs, so DATABASES is known by then)."""
    global _warned
    if _warned:
        return
    _warned = True
    for database in untraced_databases():
        _logger.warning("%s", database.problem)
