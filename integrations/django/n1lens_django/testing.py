"""Each test a request of its own, whatever runs it: `manage.py test` (Django's runner, unittest
underneath) as `pytest --n1lens` does.

n1lens groups queries by the request they run in. Without a span around each test, a test's own
ORM calls have no parent at all: every one is a trace of its own, no loop can be told in them, and a
test-client request runs inside nothing. So tracing.setup() calls trace_test_methods(): from then on
each unittest test method (TestCase, Django's SimpleTestCase / TestCase / TransactionTestCase,
IsolatedAsyncioTestCase) runs inside a root span `test <file>::<Class>::<method>`, the name pytest
gives the test, so a finding in a test body has one signature under either runner. Only the method
runs in it: setUp / tearDown, setUpClass / setUpTestData and Django's per-test fixtures and flushes
are set-up, not the code under test, as pytest fixtures are not. Django test-client requests made
in the test become SERVER spans below it, as they would over the network (patch_test_client).

A test that already runs inside a span (the pytest plugin's own, or the project's) is left as it is.

`manage.py test --parallel` runs the tests in a pool of worker processes (trace_parallel_workers):
a worker leaves through os._exit, which skips the exporter's shutdown, so each worker flushes its
spans before it hands a batch of results back; a spawned worker (macOS's default) starts with no
tracing at all, so it is set up again with the parent's resource and the exporter the OTEL_*
variables name.
"""

from __future__ import annotations

import functools
import inspect
import os

__all__ = ["in_test_span", "patch_test_client", "trace_parallel_workers", "trace_test_methods", "unittest_span_name"]

# Set on a test method wrapped in its test's span (here or by the pytest plugin): never wrapped twice.
TRACED = "_n1lens_test_span"


def _trace_headers() -> dict[str, str]:
    """The current trace context (the test's span) as request headers: traceparent, tracestate."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def patch_test_client() -> None:
    """Test-client requests, Client's and AsyncClient's, carry the test's trace context in their
    headers instead of running inside its span, so the Django instrumentation makes them SERVER
    spans (requests with an endpoint), children of the test span. Run inside it, a request would be
    an INTERNAL span of the test's own request: the test and all its requests one request, named
    after the first route. Once per process."""
    from django.test import client as django_client
    from opentelemetry import context

    original = django_client.ClientHandler.__call__
    if getattr(original, "_n1lens", False):
        return

    def call(self, environ, *args, **kwargs):
        for key, value in _trace_headers().items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        token = context.attach(context.Context())
        try:
            return original(self, environ, *args, **kwargs)
        finally:
            context.detach(token)

    original_async = django_client.AsyncClientHandler.__call__

    async def call_async(self, scope, *args, **kwargs):
        # ASGI headers are (name, value) byte pairs, names lower-case, as the ASGI getter reads them.
        headers = [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in _trace_headers().items()]
        scope = {**scope, "headers": [*scope.get("headers", []), *headers]}
        token = context.attach(context.Context())
        try:
            return await original_async(self, scope, *args, **kwargs)
        finally:
            context.detach(token)

    call._n1lens = True
    django_client.ClientHandler.__call__ = call
    django_client.AsyncClientHandler.__call__ = call_async


def in_test_span(name: str, method, attributes: dict | None = None):
    """`method` run inside a root span `name` (a coroutine function stays one, for unittest's async
    runners), marked so that it is not wrapped again."""
    from opentelemetry import trace

    tracer = trace.get_tracer("n1lens_django.testing")

    def started():
        return tracer.start_as_current_span(name, kind=trace.SpanKind.INTERNAL, attributes=attributes)

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def run_async(*args, **kwargs):
            with started():
                return await method(*args, **kwargs)

        setattr(run_async, TRACED, True)
        return run_async

    @functools.wraps(method)
    def run(*args, **kwargs):
        with started():
            return method(*args, **kwargs)

    setattr(run, TRACED, True)
    return run


def unittest_span_name(testcase) -> tuple[str, str | None]:
    """A unittest test's span name, `test <file>::<Class>::<method>` as pytest names it (the file
    relative to the working directory, where manage.py and pytest's rootdir usually are), and the
    test's file; `test <unittest id>` when its file is elsewhere."""
    klass = type(testcase)
    method = getattr(testcase, "_testMethodName", None) or "runTest"
    try:
        path = os.path.abspath(inspect.getfile(klass))
    except (TypeError, OSError):
        return f"test {testcase.id()}", None
    cwd = os.getcwd()
    if path.startswith(cwd + os.sep):
        relative = os.path.relpath(path, cwd).replace(os.sep, "/")
        return f"test {relative}::{klass.__qualname__.replace('.', '::')}::{method}", path
    return f"test {testcase.id()}", path


def trace_test_methods() -> None:
    """Runs every unittest test method in its test's span from now on (see the module docstring).
    Safe to call more than once; costs nothing where no test runs."""
    import unittest

    classes = [unittest.TestCase]
    if hasattr(unittest, "IsolatedAsyncioTestCase"):
        classes.append(unittest.IsolatedAsyncioTestCase)
    for klass in classes:
        original = klass.__dict__.get("_callTestMethod")
        if original is None or getattr(original, "_n1lens", False):
            continue

        def call_test_method(self, method, _original=original):
            return _original(self, _in_test_span(self, method))

        call_test_method._n1lens = True
        klass._callTestMethod = call_test_method
    trace_parallel_workers()


def trace_parallel_workers() -> None:
    """Django's parallel runner (ParallelTestSuite, or a project's subclass) exports its workers'
    spans: each worker flushes after every batch of tests it runs, and a spawned worker is traced
    like its parent. Safe to call more than once; does nothing without Django's test runner."""
    try:
        from django.test.runner import ParallelTestSuite
    except ImportError:
        return
    if getattr(ParallelTestSuite.run, "_n1lens", False):
        return
    original_init = ParallelTestSuite.__init__
    original_run = ParallelTestSuite.run

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # A subclass's own run() never reaches Django's, but reads the functions off the instance.
        _wrap_worker_functions(self)

    def run(self, result):
        # Again here: a subclass may set its own functions on the instance after __init__.
        _wrap_worker_functions(self)
        return original_run(self, result)

    run._n1lens = True
    ParallelTestSuite.__init__ = __init__
    ParallelTestSuite.run = run


def _wrap_worker_functions(suite) -> None:
    """Wraps the worker functions this suite hands its pool, its class's own overrides included:
    the functions Django passes (`self.process_setup.__func__`, `self.run_subsuite.__func__`) become
    picklable partials, so a spawned worker gets them too."""
    from types import MethodType

    from opentelemetry import trace

    setup = suite.process_setup.__func__
    if not (isinstance(setup, functools.partial) and setup.func is _traced_process_setup):
        resource = getattr(trace.get_tracer_provider(), "resource", None)
        attributes = dict(resource.attributes) if resource is not None else {}
        suite.process_setup = MethodType(functools.partial(_traced_process_setup, setup, attributes), suite)
    run_subsuite = suite.run_subsuite.__func__
    if not (isinstance(run_subsuite, functools.partial) and run_subsuite.func is _run_subsuite_then_flush):
        suite.run_subsuite = MethodType(functools.partial(_run_subsuite_then_flush, run_subsuite), suite)


def _traced_process_setup(original_setup, resource_attributes, *args):
    """A spawned worker's set-up (Django calls it before django.setup()): the parent's resource,
    this process's pid, the exporter OTEL_* names; then the suite's own set-up with its arguments."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from n1lens_django.tracing import exporter_from_environment, setup

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        attributes = dict(resource_attributes)
        if "process.pid" in attributes:
            attributes["process.pid"] = os.getpid()
        trace.set_tracer_provider(TracerProvider(resource=Resource(attributes)))
        exporter = exporter_from_environment()
        setup(exporter=exporter) if exporter is not None else setup()
    original_setup(*args)


def _run_subsuite_then_flush(run_subsuite, args):
    """The suite's worker function, then the worker's spans exported before its results go back."""
    from opentelemetry import trace

    try:
        return run_subsuite(args)
    finally:
        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if flush is not None:
            flush()


def _in_test_span(testcase, method):
    if getattr(method, TRACED, False):
        return method  # the pytest plugin's span, opened inside the method
    from opentelemetry import trace

    if trace.get_current_span().get_span_context().is_valid:
        return method  # part of a larger piece of work already: its queries are that work's
    try:
        patch_test_client()
    except ImportError:  # not Django's test client: nothing to patch
        pass
    name, path = unittest_span_name(testcase)
    return in_test_span(name, method, {"code.filepath": path} if path else None)
