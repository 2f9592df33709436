"""`pytest --n1lens`: records the test run's traces in process and fails the run on new N+1 queries.

Each test runs inside a root span `test <nodeid>`. Django test-client requests (Client's and
AsyncClient's) become SERVER spans (children of that span, as if the request had come over the
network), so their queries are grouped by endpoint; ORM calls outside a request belong to the test. Only the test's own code is recorded:
pytest fixtures run before its span, and a unittest TestCase's setUp / tearDown (with Django's
per-test fixtures and flushes) outside it, so test data built one row at a time is no finding. At the end of the session the spans are
written as a gzipped length-delimited OTLP protobuf file and `n1-report` (Node) analyses them with
the project's n1lens.toml / [tool.n1lens] settings. No Collector, no network, no port.

Under pytest-xdist (`-n N`) each worker records its own tests and writes its own part beside the
traces file (traces-gw0.pb.gz, …) and tells the controller where (workeroutput); the controller,
which runs no tests, joins the parts into the one traces file once every worker has finished, runs
`n1-report` on it and sets the run's exit status.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import gzip
import inspect
import os
import shutil
import struct
import subprocess
import threading
import unittest
from collections.abc import Mapping
from pathlib import Path

import pytest

from n1lens_django.testing import TRACED, patch_test_client

DEFAULT_TRACES = ".n1lens/traces.pb.gz"
NODE_HELP = (
    "n1lens: Node.js 20 or newer is needed to analyse the traces, and `node` is not on PATH: install it "
    "(apt-get install nodejs, brew install node, or actions/setup-node in CI), then `npm install --save-dev n1lens`"
)


def pytest_addoption(parser):
    group = parser.getgroup("n1lens", "n1lens: find N+1 queries in the test run")
    group.addoption("--n1lens", action="store_true", help="record the run's queries and fail on new N+1 cascades")
    group.addoption(
        "--n1lens-traces",
        default=DEFAULT_TRACES,
        metavar="FILE",
        help=f"where the run's traces are written (default {DEFAULT_TRACES})",
    )
    group.addoption(
        "--n1lens-min-repeats",
        type=int,
        default=None,
        metavar="N",
        help="executions of one query in one request that make a cascade "
        "(default 3 for tests, unless n1lens.toml sets min-repeats)",
    )
    group.addoption("--n1lens-baseline", metavar="FILE", help="accepted findings: fail only on others")
    group.addoption("--n1lens-write-baseline", metavar="FILE", help="write the run's findings as the baseline")
    group.addoption(
        "--n1lens-format",
        action="append",
        default=[],
        metavar="FORMAT=FILE",
        help="extra outputs, e.g. sarif=n1lens.sarif or junit=n1lens.xml (repeatable)",
    )


def pytest_configure(config):
    if config.getoption("n1lens"):
        config.pluginmanager.register(N1lensRecorder(config), "n1lens-recorder")


class _TestSpans:
    """A span exporter that keeps, in memory, the spans of traces started by a test."""

    def __init__(self):
        self.trace_ids: set[int] = set()
        self.spans: list = []
        self._lock = threading.Lock()

    # SpanExporter protocol (duck-typed so this module imports without the SDK).
    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult

        with self._lock:
            self.spans.extend(s for s in spans if s.context.trace_id in self.trace_ids)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def write_traces(spans, path: Path) -> None:
    """Writes the spans as one gzipped, length-delimited OTLP ExportTraceServiceRequest."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    path.parent.mkdir(parents=True, exist_ok=True)
    # No spans is one empty message: a file n1-report reads as a run with no requests.
    message = encode_spans(spans).SerializeToString() if spans else b""
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">I", len(message)) + message)


def join_traces(parts: list[Path], path: Path) -> None:
    """Writes the messages of the parts (files write_traces wrote) into one file, in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as out:
        for part in parts:
            with gzip.open(part, "rb") as fh:
                shutil.copyfileobj(fh, out)


def worker_part(path: Path, worker_id: str) -> Path:
    """Where an xdist worker writes its spans: traces.pb.gz -> traces-gw0.pb.gz."""
    base, dot, extension = path.name.partition(".")
    return path.with_name(f"{base}-{worker_id}{dot}{extension}")


def schema_text() -> str | None:
    """The project's model schema as `manage.py n1lens_schema` writes it, so fixes use the exact
    relation names; None when Django is not set up in this process."""
    from django.apps import apps
    from django.conf import settings

    if not settings.configured or not apps.ready:
        return None
    import json

    from n1lens_django.schema import build_schema

    return json.dumps(build_schema(), indent=2) + "\n"


def write_schema(path: Path, text: str | None = None) -> Path | None:
    """Writes the schema (this process's unless given); None when there is none."""
    text = text if text is not None else schema_text()
    if text is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def find_n1_report(start: Path) -> list[str] | str:
    """The command that runs n1-report, or a one-line message saying what is missing.

    Looks at $N1LENS_BIN (the n1-report script or its folder), then node_modules/.bin from `start`
    upwards, then PATH.
    """
    node = shutil.which("node")
    explicit = os.environ.get("N1LENS_BIN")
    candidates: list[Path] = []
    if explicit:
        p = Path(explicit)
        candidates.append(p / "n1-report" if p.is_dir() else p)
    else:
        for folder in [start, *start.parents]:
            candidates.append(folder / "node_modules" / ".bin" / "n1-report")
        on_path = shutil.which("n1-report")
        if on_path:
            candidates.append(Path(on_path))
    script = next((c for c in candidates if c.exists()), None)
    if script is None:
        if explicit:
            return f"n1lens: N1LENS_BIN={explicit} does not exist: point it at n1lens's bin/n1-report.js"
        return "n1lens: cannot find n1-report: run `npm install --save-dev n1lens`, or set N1LENS_BIN to its bin/n1-report.js"
    if node is None:
        return NODE_HELP
    return [node, str(script.resolve())]


def test_selection(config, deselected: int = 0) -> str | None:
    """The part of the suite the run selected, as its arguments say (`tests/test_a.py -k slow`);
    None for the whole suite. n1-report records it in a baseline it writes, and calls no baseline
    entry fixed on a run of other tests (one that did not run a test cannot have seen its N+1 go).

    Test paths that take in the whole suite (the rootdir, or every one of its testpaths) select
    nothing. A run with no arguments from a folder below the rootdir (`cd tests/unit && pytest`)
    collects only that folder: a selection, named from the rootdir (`tests/unit`). --ignore and
    --ignore-glob leave tests out as --deselect does.
    """
    parts: list[str] = []
    source = getattr(config, "args_source", None)
    # ARGS: the paths typed; INVOCATION_DIR: no arguments, and pytest collects the folder it runs in
    # (the rootdir itself, or one below it where testpaths do not apply); TESTPATHS: the whole suite.
    if source is None or source.name in ("ARGS", "INVOCATION_DIR"):
        root = Path(config.rootpath).resolve()
        here = Path(config.invocation_params.dir)
        given = [str(a) for a in config.args]
        if any("::" in a for a in given) or not _whole_suite(root, [(here / a).resolve() for a in given], config.getini("testpaths")):
            if source is not None and source.name == "INVOCATION_DIR":
                parts += [_from_root(root, Path(a)) for a in given]
            else:
                parts += given
    for flag, name in (("-k", "keyword"), ("-m", "markexpr")):
        value = config.getoption(name, None)
        if value:
            parts.append(f"{flag} {value}")
    for flag, name in (("--deselect", "deselect"), ("--ignore", "ignore"), ("--ignore-glob", "ignore_glob")):
        for value in config.getoption(name, None) or []:
            parts.append(f"{flag} {value}")
    for flag, name in (("--lf", "lf"), ("--sw", "stepwise")):
        if config.getoption(name, False):
            parts.append(flag)
    if not parts and deselected:
        parts.append("some tests deselected")
    return " ".join(parts) or None


def _whole_suite(root: Path, paths: list[Path], testpaths: list[str]) -> bool:
    """Whether test paths take in the whole suite: the rootdir, or every testpath (globs expanded,
    as pytest expands them), each the same as or below one of `paths`."""
    suite = [Path(m).resolve() for p in testpaths for m in sorted(glob.glob(str(root / p), recursive=True))] or [root]
    return all(any(p == s or p in s.parents for p in paths) for s in suite) or any(p == root or p in root.parents for p in paths)


def _from_root(root: Path, path: Path) -> str:
    """A path as named from the rootdir (`tests/unit`), the same whichever folder pytest ran in."""
    try:
        return path.resolve().relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


def report_colour(environ: Mapping[str, str], markup: bool) -> tuple[dict[str, str], list[str]]:
    """n1-report's environment and flags for its terminal report to be coloured exactly when pytest
    colours its own output (`markup`: --color=yes/no, and on auto NO_COLOR / FORCE_COLOR / a
    terminal, as pytest reads them), so the n1lens section looks like the rest of it.

    Its output is captured, a pipe it never colours by itself: FORCE_COLOR=1 turns colour on (and
    wins over NO_COLOR there), and --no-color off whatever FORCE_COLOR the environment has.
    """
    env = dict(environ)
    if not markup:
        return env, ["--no-color"]
    env.pop("NO_COLOR", None)
    env["FORCE_COLOR"] = "1"
    return env, []


class N1lensRecorder:
    """Records the tests this process runs. Under xdist there is one in every worker, which writes
    its part and hands it over in workeroutput, and one in the controller, which runs no tests and
    reports on the parts."""

    def __init__(self, config):
        self.config = config
        self.exporter = _TestSpans()
        self.tracer = None
        self.provider = None
        self.outcome: tuple[int, str, str] | None = None
        workerinput = getattr(config, "workerinput", None)
        self.worker_id: str | None = workerinput["workerid"] if workerinput is not None else None
        self.controller = False  # the xdist controller: set at sessionstart
        self.parts: list[Path] = []  # the controller's: worker parts, in the order workers finished
        self.worker_schema: str | None = None
        self.deselected = 0  # tests a plugin or option deselected (-k, -m, --lf, …)
        self.notes: list[str] = []  # said in the n1lens section whatever the outcome

    def pytest_deselected(self, items):
        self.deselected += len(items)

    def traces_path(self) -> Path:
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None and "n1lens_traces" in workerinput:
            return Path(workerinput["n1lens_traces"])  # the controller's, resolved in its directory
        path = Path(self.config.getoption("n1lens_traces"))
        return path if path.is_absolute() else Path(self.config.invocation_params.dir) / path

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        try:
            from opentelemetry import trace
        except ImportError:
            raise pytest.UsageError(
                "n1lens: --n1lens needs the OpenTelemetry SDK and Django instrumentation: pip install 'n1lens-django'"
            )
        from n1lens_django import tracing

        # Before anything runs (under xdist in the controller, before any worker starts): a
        # database whose driver's instrumentation is not installed fails the run once, here.
        self.check_databases(tracing.database_tracing(), lambda d: d.installed)
        # xdist's controller (dsession) only hands tests to the workers: nothing to record here.
        self.controller = self.worker_id is None and self.config.pluginmanager.has_plugin("dsession")
        if self.controller:
            return

        # The same set-up as production (locations, sqlcommenter, every installed DB driver), with
        # spans kept in memory; an SDK provider the project set up itself is reused.
        self.provider = tracing.setup(service_name=os.environ.get("OTEL_SERVICE_NAME", "pytest"), exporter=self.exporter)
        self.check_databases(tracing.database_tracing(), lambda d: d.traced)
        patch_test_client()
        self.tracer = trace.get_tracer("n1lens.pytest")

    def check_databases(self, databases, ready) -> None:
        """A configured database whose queries would not be traced makes the run a usage error: the
        report would show requests with no queries and pass, a gate that never fails. One n1lens
        cannot trace at all (not PostgreSQL, MySQL or SQLite) is a note in the n1lens section."""
        untraced = [d.problem for d in databases if d.known and not ready(d)]
        if untraced:
            raise pytest.UsageError("\n".join(untraced))
        self.notes = [d.problem for d in databases if not d.known and d.problem]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        # Workers may run elsewhere than the controller's directory: give them its traces path.
        node.workerinput["n1lens_traces"] = str(self.traces_path())

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        # A worker that finished (not one that crashed) says where it wrote its spans.
        output = getattr(node, "workeroutput", None) or {}
        if output.get("n1lens_traces"):
            self.parts.append(Path(output["n1lens_traces"]))
        if self.worker_schema is None and output.get("n1lens_schema"):
            self.worker_schema = output["n1lens_schema"]

    @contextlib.contextmanager
    def test_span(self, item):
        """The test's root span: the spans of its trace are the ones the exporter keeps."""
        from opentelemetry import trace

        with self.tracer.start_as_current_span(f"test {item.nodeid}", kind=trace.SpanKind.INTERNAL) as span:
            self.exporter.trace_ids.add(span.get_span_context().trace_id)
            span.set_attribute("code.filepath", str(item.path))
            yield

    def traced(self, item, method):
        """`method` run inside the test's span (a coroutine function stays one, for unittest's async
        runners), marked so that tracing.setup()'s unittest hook does not open a second one."""
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def run_async(*args, **kwargs):
                with self.test_span(item):
                    return await method(*args, **kwargs)

            setattr(run_async, TRACED, True)
            return run_async

        @functools.wraps(method)
        def run(*args, **kwargs):
            with self.test_span(item):
                return method(*args, **kwargs)

        setattr(run, TRACED, True)
        return run

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        testcase = getattr(item, "instance", None)
        if not isinstance(testcase, unittest.TestCase):
            # A pytest test's fixtures ran before this call: the call is the test's own code.
            with self.test_span(item):
                yield
            return
        # unittest runs setUp, the test method and tearDown (Django's per-test fixtures and flush
        # too) inside this one call. Set-up is not the code under test, as a pytest fixture is not:
        # only the method runs in the test's span; the rest starts traces the exporter leaves out.
        # pytest calls the method as item.obj, unittest's async runner reads it off the instance.
        method = item.obj
        item.obj = traced = self.traced(item, method)
        setattr(testcase, item.name, traced)
        try:
            yield
        finally:
            item.obj = method
            testcase.__dict__.pop(item.name, None)

    def pytest_sessionfinish(self, session, exitstatus):
        path = self.traces_path()
        if self.worker_id is not None:
            self.finish_worker(path)
            return
        if self.controller:
            # Every worker has finished (xdist's test loop ends when the last one is down).
            parts = [p for p in self.parts if p.exists()]
            recorded = bool(parts)
            if recorded:
                join_traces(parts, path)
                for part in parts:
                    part.unlink()
        else:
            self.provider.force_flush()
            recorded = bool(self.exporter.spans)
            if recorded:
                write_traces(self.exporter.spans, path)
        self.report(session, path, recorded)

    def finish_worker(self, path: Path) -> None:
        """An xdist worker writes its part and tells the controller where, with the schema."""
        self.provider.force_flush()
        if not self.exporter.spans:
            return
        part = worker_part(path, self.worker_id)
        write_traces(self.exporter.spans, part)
        self.config.workeroutput["n1lens_traces"] = str(part)
        self.config.workeroutput["n1lens_schema"] = schema_text()

    def report(self, session, path: Path, recorded: bool) -> None:
        """Runs n1-report on the traces file and sets the outcome and the run's exit status."""
        write_baseline = self.config.getoption("n1lens_write_baseline")
        note = "n1lens: no spans recorded (no test ran, or none touched the database)"
        if not recorded:
            if not write_baseline:
                self.outcome = (0, "", note)
                return
            # An empty baseline is still the run's findings: write it, as n1-report writes any.
            write_traces([], path)
        command = find_n1_report(Path(self.config.invocation_params.dir))
        if isinstance(command, str):
            self.outcome = (2, "", command)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        args = [*command, str(path), "--test-suite", "--format", "terminal"]
        # The spans name files from BASE_DIR; SARIF and annotations name them from the repository
        # root, which is above it when manage.py sits in a subfolder (backend/).
        from n1lens_django.tracing import application_base_dir

        args += ["--base-dir", application_base_dir()]
        selection = test_selection(self.config, self.deselected)
        if selection is not None:
            args += ["--test-selection", selection]
        schema = write_schema(path.parent / "schema.json", self.worker_schema)
        if schema is not None:
            args += ["--schema", str(schema)]
        min_repeats = self.config.getoption("n1lens_min_repeats")
        if min_repeats is not None:
            args += ["--min-repeats", str(min_repeats)]
        if self.config.getoption("n1lens_baseline"):
            args += ["--baseline", self.config.getoption("n1lens_baseline")]
        if write_baseline:
            args += ["--write-baseline", write_baseline]
        # Annotations (`github` without a file) go to pytest's own output, where the runner reads them.
        annotations = path.parent / "github-annotations.txt"
        for spec in self.config.getoption("n1lens_format"):
            args += ["--format", f"github={annotations}" if spec == "github" else spec]
        annotations.unlink(missing_ok=True)
        env, colour_args = report_colour(os.environ, self.config.get_terminal_writer().hasmarkup)
        args += colour_args
        done = subprocess.run(args, cwd=self.config.invocation_params.dir, env=env, capture_output=True, text=True)
        stdout = done.stdout
        if annotations.exists():
            stdout += annotations.read_text(encoding="utf-8")
            annotations.unlink()
        stderr = done.stderr.strip()
        if not recorded:
            stderr = f"{note}\n{stderr}" if stderr else note
        self.outcome = (done.returncode, stdout, stderr)
        if done.returncode != 0 and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if done.returncode == 1 else pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter):
        if self.outcome is None:
            return
        code, stdout, stderr = self.outcome
        terminalreporter.section("n1lens")
        for note in self.notes:
            terminalreporter.write_line(note, yellow=True, bold=True)
        if stdout:
            terminalreporter.write(stdout)
        if stderr:
            terminalreporter.write_line(stderr, red=code != 0 and code != 1, bold=True)
        if code == 1:
            terminalreporter.write_line("n1lens: new N+1 queries over budget (see above); exit status 1", red=True, bold=True)
