"""`pytest --n1lens` on the recruit sample app, run as a user would: pytest in a subprocess, the real
n1-report (Node) behind it, baselines and config files on disk."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "recruit"
N1_REPORT = REPO / "bin" / "n1-report.js"
COMBINED_FIX = "Application.objects.select_related('candidate', 'job__company', 'status')"


def run_pytest(tmp_path, *args, cwd=SAMPLE, env=None):
    """Runs pytest --n1lens in `cwd` with the traces under tmp_path; returns (exit code, output).

    Paths go in `--option=value` form: pytest picks its rootdir from arguments that name existing
    files, and a separate value would count as one."""
    full_env = {
        **os.environ,
        "N1LENS_BIN": str(N1_REPORT),
        "NO_COLOR": "1",
        "RECRUIT_SQLITE_PATH": str(tmp_path / "recruit.sqlite3"),
        **(env or {}),
    }
    full_env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--n1lens", f"--n1lens-traces={tmp_path / 'traces.pb.gz'}", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def n1lens_section(output):
    return output.split(" n1lens ", 1)[1] if " n1lens " in output else ""


def failing_lines(output):
    return [line for line in n1lens_section(output).splitlines() if line.startswith("  ✗ ")]


def test_dashboard_test_fails_with_its_n_plus_one_queries_and_the_combined_fix(tmp_path):
    summary = tmp_path / "summary.md"
    code, out = run_pytest(
        tmp_path,
        "tests/test_dashboard.py::DashboardTests",
        f"--n1lens-format=json={tmp_path / 'r.json'}",
        "--n1lens-format=github",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert code == 1, out
    annotations = [line for line in out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 6 and all("title=n1lens%3A N+1 in GET dashboard/::" in a for a in annotations)
    assert summary.read_text().startswith("### ❌ n1lens: 6 new findings over budget")
    assert "1 passed" in out
    section = n1lens_section(out)
    assert "GET dashboard/" in section
    assert COMBINED_FIX in section
    assert "'interviews'," in section and "queryset=Interview.objects.order_by('-scheduled_at')" in section
    assert ".annotate(notes_count=Count('notes'))" in section
    assert len(failing_lines(out)) == 6
    assert "n1lens: new N+1 queries over budget" in out
    report = json.loads((tmp_path / "r.json").read_text())
    findings = [f for e in report["endpoints"] for f in e["findings"]]
    assert {f["table"] for f in findings} == {
        "recruit_candidate", "recruit_job", "recruit_company", "recruit_status", "recruit_note", "recruit_interview",
    }
    # Where the trace carries a code location, the output names it.
    for f in findings:
        location = f.get("location") or {}
        place = location.get("template") or location.get("file")
        if place:
            assert place in section


def test_sarif_and_annotations_name_files_from_the_repository_root_for_a_project_in_a_subfolder(tmp_path):
    # samples/recruit is a Django project in a subfolder of this repository: its traces name files
    # relative to BASE_DIR (recruit/views.py), code scanning and annotations resolve them from the checkout.
    sarif = tmp_path / "n1lens.sarif"
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::DashboardTests", f"--n1lens-format=sarif={sarif}", "--n1lens-format=github")
    assert code == 1, out[-2500:]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in json.loads(sarif.read_text())["runs"][0]["results"]]
    assert uris, out[-2500:]
    prefix = SAMPLE.relative_to(REPO).as_posix() + "/"
    assert all(uri.startswith(prefix) and (REPO / uri).is_file() for uri in uris), uris
    files = [m.group(1) for m in re.finditer(r"^::error file=([^,]+),", out, re.M)]
    assert files and all(f.startswith(prefix) and (REPO / f).is_file() for f in files), files


ANSI = "\x1b["  # a colour escape


def strip_colour(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize(
    ("color", "env", "coloured"),
    [
        # --color wins over the environment either way, as it does for pytest's own output.
        ("--color=yes", {"NO_COLOR": "1"}, True),
        ("--color=no", {"FORCE_COLOR": "1"}, False),
        # auto into a pipe: coloured only when the environment forces it, as pytest reads it.
        ("--color=auto", {"NO_COLOR": "", "FORCE_COLOR": "1"}, True),
        # FORCE_COLOR='' is no colour to pytest, and colour to n1-report: pytest's reading decides.
        ("--color=auto", {"NO_COLOR": "", "FORCE_COLOR": ""}, False),
    ],
)
def test_the_report_is_coloured_when_pytest_output_is(tmp_path, color, env, coloured):
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::DashboardTests", color, env=env)
    assert code == 1, out[-2500:]
    # n1-report's own lines, not pytest's header and verdict line (coloured by pytest anyway).
    raw = n1lens_section(out).splitlines()
    plain = [strip_colour(line) for line in raw]
    failing = [line for line, text in zip(raw, plain) if text.startswith("  ✗ ")]
    assert len(failing) == 6, out[-2500:]  # coloured or not, the same report
    assert [ANSI in line for line in failing] == [coloured] * 6, failing
    header = next(line for line, text in zip(raw, plain) if text.startswith("n1lens · 2 requests · "))
    assert (ANSI in header) is coloured, header


def test_the_optimised_dashboard_test_passes(tmp_path):
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::OptimisedDashboardTests")
    assert code == 0, out
    assert "✓ within budget: 0 new" in out


def test_tests_of_the_same_page_without_rows_leave_its_n_plus_one_failing_the_run(tmp_path):
    # samples/recruit/same_page: the dashboard's N+1 test and two tests of the page with no rows.
    # The loop is in one request of three; in a test suite that is no warm-up.
    code, out = run_pytest(tmp_path, "same_page")
    assert "3 passed" in out, out[-1500:]
    assert code == 1, out[-2500:]
    assert len(failing_lines(out)) == 6
    section = n1lens_section(out)
    assert "3 requests" in section
    assert "warm-up" not in section and "steady state unknown" not in section


def write_whole_suite_baseline(tmp_path):
    """The sample suite's baseline, written by pytest --n1lens-write-baseline: its path and its six entries."""
    baseline = tmp_path / "baseline.json"
    code, out = run_pytest(tmp_path, f"--n1lens-write-baseline={baseline}")
    assert code == 0, out
    entries = json.loads(baseline.read_text())["findings"]
    assert len(entries) == 6
    return baseline, entries


def test_a_baseline_silences_accepted_findings_and_fails_on_one_taken_out(tmp_path):
    baseline, entries = write_whole_suite_baseline(tmp_path)

    code, out = run_pytest(tmp_path, f"--n1lens-baseline={baseline}")
    assert code == 0, out
    assert "0 new · 6 baselined" in out

    removed, *kept = entries
    baseline.write_text(json.dumps({"n1lensBaseline": 1, "findings": kept}))
    code, out = run_pytest(tmp_path, f"--n1lens-baseline={baseline}")
    assert code == 1, out
    assert "1 new · 5 baselined" in out
    failing = failing_lines(out)
    assert len(failing) == 1 and removed["table"] in failing[0]
    assert f"signature {removed['signature']}" in out


def test_under_xdist_the_controller_reports_on_every_workers_tests_and_fails_the_run(tmp_path):
    # Two tests on two workers (xdist's load scheduling sends one to each): the N+1 on one, the
    # optimised dashboard on the other. The report has both workers' requests, once.
    report = tmp_path / "r.json"
    code, out = run_pytest(
        tmp_path,
        "-n", "2",
        "tests/test_dashboard.py::DashboardTests",
        "tests/test_dashboard.py::OptimisedDashboardTests",
        f"--n1lens-format=json={report}",
    )
    assert "2 passed" in out, out[-2500:]
    assert code == 1, out[-2500:]
    section = n1lens_section(out)
    assert "no spans recorded" not in section
    assert len(failing_lines(out)) == 6
    assert "n1lens: new N+1 queries over budget" in out
    endpoints = {e["endpoint"]: e["requests"] for e in json.loads(report.read_text())["endpoints"]}
    assert endpoints == {
        "GET dashboard/": 1,
        "GET dashboard/optimised/": 1,
        "test tests/test_dashboard.py::DashboardTests::test_dashboard_lists_applications": 1,
        "test tests/test_dashboard.py::OptimisedDashboardTests::test_optimised_dashboard_lists_applications": 1,
    }
    # One traces file, as without xdist; the workers' parts are joined into it and removed.
    assert sorted(p.name for p in tmp_path.glob("traces*")) == ["traces.pb.gz"]
    assert (tmp_path / "schema.json").exists()

    code, out = run_pytest(tmp_path, "-n", "2", "tests/test_dashboard.py::OptimisedDashboardTests")
    assert code == 0, out[-2500:]
    assert "✓ within budget: 0 new" in out


def test_write_baseline_with_no_spans_recorded_writes_an_empty_baseline_and_says_why(tmp_path):
    baseline = tmp_path / "baseline.json"
    code, out = run_pytest(tmp_path, "-k", "no_such_test", f"--n1lens-write-baseline={baseline}")
    assert code == pytest.ExitCode.NO_TESTS_COLLECTED, out
    assert json.loads(baseline.read_text()) == {"n1lensBaseline": 1, "scope": {"testSuite": True, "tests": "-k no_such_test"}, "findings": []}
    section = n1lens_section(out)
    assert "n1lens: no spans recorded (no test ran, or none touched the database)" in section
    assert f"n1lens: wrote 0 findings to the baseline {baseline}" in section


def test_n1lens_diff_of_the_dashboard_before_and_after_the_fix_reports_six_fixed(tmp_path):
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    run_pytest(tmp_path, "tests/test_dashboard.py::DashboardTests", f"--n1lens-format=json={before}")
    code, out = run_pytest(tmp_path, "after_fix", f"--n1lens-format=json={after}")
    assert code == 0, out
    diff = subprocess.run(
        ["node", str(REPO / "bin" / "n1lens.js"), "diff", str(before), str(after)], capture_output=True, text=True, timeout=60
    )
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert ": 6 fixed · 0 new · 0 worse · 0 better" in diff.stdout
    assert "GET dashboard/\n   queries/request 51 → " in diff.stdout


def test_missing_node_is_one_clear_line(tmp_path):
    # A PATH with python's own folder only: no node.
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::OptimisedDashboardTests", env={"PATH": str(Path(sys.executable).parent)})
    assert code == pytest.ExitCode.USAGE_ERROR, out
    lines = [line for line in out.splitlines() if line.startswith("n1lens: Node.js")]
    assert lines == ["n1lens: Node.js 20 or newer is needed to analyse the traces, and `node` is not on PATH: install it "
                     "(apt-get install nodejs, brew install node, or actions/setup-node in CI), then `npm install --save-dev n1lens`"]
    assert "Traceback" not in out


def test_project_config_and_tracer_provider_apply_and_a_bad_config_is_one_line(tmp_path):
    project = sample_copy(tmp_path)
    (project / "n1lens.toml").write_text('[ignore]\ntables = ["recruit_note", "recruit_interview"]\n')
    # The project's own SDK provider, set up before the session: the plugin adds to it.
    (project / "conftest.py").write_text(
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.resources import Resource\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider(resource=Resource.create({'service.name': 'recruit-own'})))\n"
    )
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::DashboardTests", cwd=project)
    assert code == 1, out
    assert len(failing_lines(out)) == 4
    assert "queries/request (p50, max 51) · recruit-own" in out

    (project / "n1lens.toml").write_text('min-repeats = "three"\n')
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::DashboardTests", cwd=project)
    assert code == pytest.ExitCode.USAGE_ERROR, out
    assert "n1-report: n1lens.toml: min-repeats must be a whole number ≥ 2" in out
    assert "Traceback" not in out


def signatures(report_path):
    report = json.loads(Path(report_path).read_text())
    return {(e["endpoint"], f["kind"], f["table"], f["signature"]) for e in report["endpoints"] for f in e["findings"]}


def sample_copy(tmp_path, start_method=None):
    """A copy of the sample project to change; its manage.py starts multiprocessing's workers by `start_method` when given."""
    project = tmp_path / "recruit"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".n1lens"))
    if start_method is not None:
        manage = project / "manage.py"
        manage.write_text(manage.read_text().replace(
            "def main():\n",
            f"def main():\n    import multiprocessing\n    multiprocessing.set_start_method({start_method!r})\n",
        ))
    return project


def capture_manage_py_test(project, tmp_path, captured, *options, test_args=()):
    """`n1lens capture --test-suite -- manage.py test` in `project`, its JSON report in `captured`: the run and its output."""
    done = subprocess.run(
        ["node", str(REPO / "bin" / "n1lens.js"), "capture", "--test-suite", *options, "--out", str(tmp_path / "capture.jsonl"),
         "-f", f"json={captured}", "-f", "terminal", "--", sys.executable, "manage.py", "test", "--noinput", *test_args],
        cwd=project,
        env={**os.environ, "NO_COLOR": "1", "RECRUIT_SQLITE_PATH": str(tmp_path / "recruit.sqlite3")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, done.stdout + done.stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_capture_of_manage_py_test_finds_what_pytest_n1lens_finds(tmp_path, protocol):
    captured = tmp_path / "capture.json"
    done, out = capture_manage_py_test(SAMPLE, tmp_path, captured, "--protocol", protocol)
    assert done.returncode == 1, out  # the tests pass; the report is over budget
    assert "Ran 2 tests" in out and "OK" in out
    assert f"n1lens capture: OTLP {protocol} on 127.0.0.1:" in out
    code, pytest_out = run_pytest(tmp_path, f"--n1lens-format=json={tmp_path / 'pytest.json'}")
    assert code == 1, pytest_out
    found = signatures(captured)
    assert len(found) == 6
    assert found == signatures(tmp_path / "pytest.json")


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_capture_of_manage_py_test_parallel_finds_what_the_serial_run_finds(tmp_path, start_method):
    # `manage.py test --parallel 2` reported "1 requests · 1 DB queries · 0 findings ✓ within budget":
    # Django's pool workers run the tests, and a worker leaves through os._exit, so its batched
    # spans were never exported (fork); spawned workers (macOS's default) were never traced at all.
    assert_parallel_run_finds_what_the_serial_run_finds(sample_copy(tmp_path, start_method=start_method), tmp_path)


def assert_parallel_run_finds_what_the_serial_run_finds(project, tmp_path):
    """`manage.py test` in `project`, serially then with --parallel 2: the same findings, every request, one service."""
    serial = tmp_path / "serial.json"
    done, out = capture_manage_py_test(project, tmp_path, serial)
    assert done.returncode == 1, out[-2500:]
    parallel = tmp_path / "parallel.json"
    done, out = capture_manage_py_test(project, tmp_path, parallel, test_args=("--parallel", "2"))
    assert "Ran 2 tests" in out and "OK" in out, out[-2500:]
    assert done.returncode == 1, out[-2500:]  # the tests pass; the report is over budget
    report = json.loads(parallel.read_text())
    assert {e["endpoint"] for e in report["endpoints"]} == {
        e["endpoint"] for e in json.loads(serial.read_text())["endpoints"]
    }
    assert signatures(parallel) == signatures(serial)
    assert report["summary"]["requests"] == 4, report["summary"]
    # A spawned worker's spans carry the parent's resource: one service, as in the serial run.
    assert {e["service"] for e in report["endpoints"]} == {"recruit"}


OWN_PARALLEL_SUITE = """
import multiprocessing
import os

from django.test.runner import DiscoverRunner, ParallelTestSuite, _run_subsuite


def own_setup(marker):
    # A project's own worker set-up (Django calls it before django.setup()).
    os.environ["OWN_SETUP_RAN"] = marker


def own_run_subsuite(args):
    # Django runs process_setup in spawned workers only (a forked one inherits the parent's state).
    if multiprocessing.get_start_method() == "spawn":
        assert os.environ.get("OWN_SETUP_RAN") == "yes", "the project's own process_setup did not run"
    return _run_subsuite(args)


class OwnSuite(ParallelTestSuite):
    process_setup = own_setup
    process_setup_args = ("yes",)
    run_subsuite = own_run_subsuite


class OwnRunner(DiscoverRunner):
    parallel_test_suite = OwnSuite
"""


OWN_RUN_SUITE = """
import ctypes
import multiprocessing

from django.test.runner import DiscoverRunner, ParallelTestSuite


class OwnRunSuite(ParallelTestSuite):
    def run(self, result):
        # A project's own run() (Django's, without its shouldStop polling), never calling super().run().
        self.initialize_suite()
        counter = multiprocessing.Value(ctypes.c_int, 0)
        pool = multiprocessing.Pool(
            processes=self.processes,
            initializer=self.init_worker.__func__,
            initargs=[counter, self.initial_settings, self.serialized_contents, self.process_setup.__func__,
                      self.process_setup_args, self.debug_mode, self.used_aliases],
        )
        args = [(self.runner_class, i, s, self.failfast, self.buffer) for i, s in enumerate(self.subsuites)]
        for subsuite_index, events in pool.imap_unordered(self.run_subsuite.__func__, args):
            tests = list(self.subsuites[subsuite_index])
            for event in events:
                self.handle_event(result, tests, event)
        pool.close()
        pool.join()
        return result


class OwnRunner(DiscoverRunner):
    parallel_test_suite = OwnRunSuite
"""


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("runner", [OWN_PARALLEL_SUITE, OWN_RUN_SUITE], ids=["own-worker-functions", "own-run"])
def test_a_projects_own_parallel_suite_is_traced(tmp_path, start_method, runner):
    # A ParallelTestSuite subclass with its own process_setup and run_subsuite, or its own run() that
    # never calls super().run(), bypassed the worker flush and set-up: the report found nothing.
    # The first also checks its own set-up still runs in spawned workers.
    project = sample_copy(tmp_path, start_method=start_method)
    (project / "own_runner.py").write_text(runner)
    settings = project / "config" / "settings.py"
    settings.write_text(settings.read_text() + '\nTEST_RUNNER = "own_runner.OwnRunner"\n')
    assert_parallel_run_finds_what_the_serial_run_finds(project, tmp_path)


SETUP_AND_BODY = '''
from django.test import TestCase

from recruit.models import Company, Job


class JobsTests(TestCase):
    def setUp(self):
        # Test data, one row at a time: a fixture, not the code under test.
        for i in range(6):
            Job.objects.create(company=Company.objects.create(name=f"c{i}"), title=f"t{i}")

    def test_counts_jobs(self):
        self.assertEqual(Job.objects.count(), 6)

    def tearDown(self):
        for job in Job.objects.all():
            job.delete()


class CompanyNamesTests(JobsTests):
    def test_reads_each_jobs_company(self):
        # The code under test, in the test body: its N+1 is the test's to report.
        self.assertEqual(len({job.company.name for job in Job.objects.all()}), 6)
'''


def test_unittest_setup_and_teardown_are_not_the_code_under_test(tmp_path):
    project = sample_copy(tmp_path)
    (project / "tests" / "test_setup_noise.py").write_text(SETUP_AND_BODY)
    report = tmp_path / "r.json"
    code, out = run_pytest(tmp_path, "tests/test_setup_noise.py::JobsTests", f"--n1lens-format=json={report}", cwd=project)
    assert "1 passed" in out, out[-2500:]
    # setUp's and tearDown's loops run as pytest fixtures' do: outside the test, unreported.
    assert code == 0, out[-2500:]
    assert [f for e in json.loads(report.read_text())["endpoints"] for f in e["findings"]] == []

    code, out = run_pytest(tmp_path, "tests/test_setup_noise.py::CompanyNamesTests", f"--n1lens-format=json={report}", cwd=project)
    assert code == 1, out[-2500:]
    findings = {(e["endpoint"], f["table"]) for e in json.loads(report.read_text())["endpoints"] for f in e["findings"]}
    assert findings == {("test tests/test_setup_noise.py::CompanyNamesTests::test_reads_each_jobs_company", "recruit_company")}


ASYNC_VIEW = '''
from django.http import JsonResponse
from django.urls import include, path

from recruit.models import Company, Job


async def job_companies(request):
    # An async view's N+1: one awaited company lookup per job.
    names = [(await Company.objects.aget(pk=job.company_id)).name async for job in Job.objects.order_by("id")]
    return JsonResponse({"companies": names})


urlpatterns = [path("jobs/companies/", job_companies), path("", include("config.urls"))]
'''

ASYNC_TESTS = '''
import pytest
from django.test import AsyncClient, TransactionTestCase, override_settings

from recruit.models import Company, Job


def make_jobs():
    for i in range(6):
        Job.objects.create(company=Company.objects.create(name=f"c{i}"), title=f"t{i}")


@override_settings(ROOT_URLCONF="async_view")
class AsyncClientTests(TransactionTestCase):
    def setUp(self):
        make_jobs()

    async def test_request_then_own_loop(self):
        self.assertEqual((await AsyncClient().get("/jobs/companies/")).status_code, 200)
        # The test's own N+1, after the request: the test's to report, not the endpoint's.
        async for company in Company.objects.order_by("id"):
            self.assertTrue(await Job.objects.filter(company=company).aexists())


@pytest.fixture
def jobs(transactional_db, settings):
    settings.ROOT_URLCONF = "async_view"
    make_jobs()


@pytest.mark.asyncio
async def test_async_client_fixture(jobs, async_client):
    assert (await async_client.get("/jobs/companies/")).status_code == 200
'''


def test_async_client_requests_are_requests_of_their_test(tmp_path):
    # Django's AsyncClient (a TestCase's async test, pytest-django's async_client fixture under
    # pytest-asyncio) on an async view: each request is its endpoint's, apart from its test's own
    # queries, as Client's are.
    project = sample_copy(tmp_path)
    (project / "async_view.py").write_text(ASYNC_VIEW)
    (project / "tests" / "test_async_client.py").write_text(ASYNC_TESTS)
    report = tmp_path / "r.json"
    code, out = run_pytest(tmp_path, "tests/test_async_client.py", f"--n1lens-format=json={report}", cwd=project)
    assert "2 passed" in out, out[-2500:]
    assert code == 1, out[-2500:]
    endpoints = json.loads(report.read_text())["endpoints"]
    assert {e["endpoint"]: e["requests"] for e in endpoints} == {
        "GET jobs/companies/": 2,
        "test tests/test_async_client.py::AsyncClientTests::test_request_then_own_loop": 1,
        "test tests/test_async_client.py::test_async_client_fixture": 1,
    }
    findings = {(e["endpoint"], f["kind"], f["table"]) for e in endpoints for f in e["findings"]}
    assert findings == {
        ("GET jobs/companies/", "n_plus_one", "recruit_company"),
        ("test tests/test_async_client.py::AsyncClientTests::test_request_then_own_loop", "n_plus_one", "recruit_job"),
    }


def test_a_run_of_some_tests_calls_no_baseline_entry_fixed_and_a_rewrite_keeps_them_all(tmp_path):
    baseline, entries = write_whole_suite_baseline(tmp_path)

    # The optimised dashboard test requests the page without its loops; the N+1 test did not run.
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::OptimisedDashboardTests", f"--n1lens-baseline={baseline}")
    assert code == 0, out[-2500:]
    section = n1lens_section(out)
    assert "0 fixed since" in section and "fixed: " not in section, section
    assert 'tests: the whole suite in the baseline, "tests/test_dashboard.py::OptimisedDashboardTests" in this run' in " ".join(section.split())

    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::OptimisedDashboardTests", f"--n1lens-write-baseline={baseline}")
    assert code == 0, out[-2500:]
    assert json.loads(baseline.read_text())["findings"] == entries

    # The whole suite again: the same six, nothing new, nothing fixed.
    code, out = run_pytest(tmp_path, f"--n1lens-baseline={baseline}")
    assert code == 0, out[-2500:]
    assert "0 new · 6 baselined · 0 fixed since" in out


def test_the_test_selection_names_what_the_arguments_select_and_nothing_for_the_whole_suite():
    from types import SimpleNamespace

    from n1lens_django.pytest_plugin import test_selection

    class Config:
        def __init__(self, args, source="ARGS", **options):
            self.args = args
            self.args_source = SimpleNamespace(name=source)
            self.rootpath = SAMPLE
            self.invocation_params = SimpleNamespace(dir=SAMPLE)
            self.options = options

        def getini(self, name):
            return ["tests"] if name == "testpaths" else []

        def getoption(self, name, default=None):
            return self.options.get(name, default)

    assert test_selection(Config(["tests"], source="TESTPATHS")) is None
    assert test_selection(Config(["tests"])) is None  # the suite's own root, typed
    assert test_selection(Config(["."])) is None
    assert test_selection(Config(["tests/test_dashboard.py"])) == "tests/test_dashboard.py"
    assert test_selection(Config(["tests"], keyword="slow", markexpr="not db")) == "-k slow -m not db"
    assert test_selection(Config(["tests"], source="TESTPATHS", lf=True)) == "--lf"
    assert test_selection(Config(["tests"], source="TESTPATHS"), deselected=3) == "some tests deselected"
    # No arguments, run from a folder below the rootdir: only that folder, named from the rootdir.
    assert test_selection(Config([str(SAMPLE / "tests")], source="INVOCATION_DIR")) is None  # the suite's testpath
    assert test_selection(Config([str(SAMPLE)], source="INVOCATION_DIR")) is None
    assert test_selection(Config([str(SAMPLE / "recruit")], source="INVOCATION_DIR")) == "recruit"
    assert test_selection(Config(["tests"], ignore=["tests/test_dashboard.py"], ignore_glob=["*_slow.py"])) == "--ignore tests/test_dashboard.py --ignore-glob *_slow.py"


SELECTION_CONFTEST = """
import importlib.util, json, os

spec = importlib.util.spec_from_file_location("n1lens_plugin_under_test", {plugin!r})
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)


def pytest_collection_finish(session):
    with open(os.environ["SELECTION_OUT"], "w") as out:
        json.dump({{"selection": plugin.test_selection(session.config), "collected": [i.nodeid for i in session.items]}}, out)
"""


def selection_project(tmp_path):
    """A project of two test folders under testpaths = tests whose conftest writes what the plugin
    calls the run's selection, and what pytest collected."""
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "other").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    plugin = Path(__file__).resolve().parents[1] / "n1lens_django" / "pytest_plugin.py"
    (project / "conftest.py").write_text(SELECTION_CONFTEST.format(plugin=str(plugin)))
    (project / "tests" / "unit" / "test_a.py").write_text("def test_a():\n    pass\n")
    (project / "tests" / "other" / "test_b.py").write_text("def test_b():\n    pass\n")
    return project


def selection_of(cwd, out, *args):
    """Runs pytest (without --n1lens) in `cwd`; returns the selection and the tests collected."""
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:n1lens", *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "SELECTION_OUT": str(out), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return json.loads(out.read_text())


def test_a_run_from_a_folder_below_the_rootdir_with_no_arguments_is_a_selection_of_that_folder(tmp_path):
    # `cd tests/unit && pytest --n1lens`: pytest collects that folder only (args_source INVOCATION_DIR),
    # and the run was passed to n1-report as the whole suite, calling the other tests' entries fixed.
    project = selection_project(tmp_path)
    whole = selection_of(project, tmp_path / "whole.json")
    assert sorted(whole["collected"]) == ["tests/other/test_b.py::test_b", "tests/unit/test_a.py::test_a"]
    assert whole["selection"] is None
    part = selection_of(project / "tests" / "unit", tmp_path / "part.json")
    assert part["collected"] == ["tests/unit/test_a.py::test_a"]
    assert part["selection"] == "tests/unit"
    # The suite's own testpath, run from inside it: the whole suite.
    assert selection_of(project / "tests", tmp_path / "tests.json")["selection"] is None


def test_a_run_that_ignores_a_folder_is_a_selection(tmp_path):
    # --ignore and --ignore-glob leave tests out as --deselect does.
    project = selection_project(tmp_path)
    ignored = selection_of(project, tmp_path / "ignore.json", "--ignore=tests/other")
    assert ignored["collected"] == ["tests/unit/test_a.py::test_a"]
    assert ignored["selection"] == "--ignore tests/other"
    globbed = selection_of(project, tmp_path / "glob.json", "--ignore-glob=*/other/*")
    assert globbed["collected"] == ["tests/unit/test_a.py::test_a"]
    assert globbed["selection"] == "--ignore-glob */other/*"


# A plugin module loaded before pytest-django sets Django up (`-p`): the driver Django is to use,
# and the driver's instrumentation taken away as if it had never been installed (None in
# sys.modules: its import fails, find_spec finds nothing).
CHOICES = """
import sys

{driver_choice}
{not_installed}
"""


@pytest.mark.parametrize(
    ("driver", "package", "extra"),
    [
        ("psycopg", "opentelemetry-instrumentation-psycopg", "postgresql"),
        ("psycopg2", "opentelemetry-instrumentation-psycopg2", "psycopg2"),
    ],
)
def test_a_postgresql_project_without_its_drivers_instrumentation_is_a_usage_error_not_a_pass(
    tmp_path, postgres_url, driver, package, extra
):
    # The README's `pip install n1lens-django` on a PostgreSQL project: the tests' queries were never
    # traced, and the run said "0 DB queries · 0 findings ✓ within budget" and passed.
    from importlib.metadata import version

    project = sample_copy(tmp_path)
    driver_choice = 'sys.modules["psycopg"] = None  # Django falls back to psycopg2' if driver == "psycopg2" else ""
    env = {"RECRUIT_DB": "postgres", "RECRUIT_DATABASE_URL": postgres_url}

    # With the instrumentation: the dashboard's N+1 loops fail the run, on PostgreSQL as on SQLite.
    (project / "choices.py").write_text(CHOICES.format(driver_choice=driver_choice, not_installed=""))
    code, out = run_pytest(tmp_path, "-p", "choices", "tests/test_dashboard.py::DashboardTests", cwd=project, env=env)
    assert code == 1, out[-2500:]
    assert len(failing_lines(out)) == 6, out[-2500:]

    not_installed = f'sys.modules["opentelemetry.instrumentation.{driver}"] = None'
    (project / "choices.py").write_text(CHOICES.format(driver_choice=driver_choice, not_installed=not_installed))
    for xdist in ([], ["-n", "2"]):
        code, out = run_pytest(tmp_path, "-p", "choices", "tests/test_dashboard.py::DashboardTests", *xdist, cwd=project, env=env)
        assert code == pytest.ExitCode.USAGE_ERROR, out[-2500:]
        assert "within budget" not in out and "passed" not in out, out[-2500:]
        assert (
            f"ERROR: n1lens: DATABASES['default'] (django.db.backends.postgresql) runs its queries through {driver}, "
            f"and {package} is not installed: none of them is traced, so n1lens would find no N+1 there. Install it:\n"
            f"    pip install {package}=={version('opentelemetry-instrumentation')}   (or: pip install 'n1lens-django[{extra}]')\n"
        ) in out, out[-2500:]
        assert "Traceback" not in out


def test_a_sqlite_project_needs_no_extra_install(tmp_path):
    # n1lens-django depends on the sqlite3 instrumentation: nothing to add, nothing said.
    code, out = run_pytest(tmp_path, "tests/test_dashboard.py::OptimisedDashboardTests")
    assert code == 0, out[-2500:]
    assert "pip install" not in out and "not traced" not in out


SQL_VERBS = {"ALTER", "BEGIN", "COMMIT", "CREATE", "DELETE", "DROP", "INSERT", "PRAGMA", "RELEASE", "ROLLBACK", "SAVEPOINT", "SELECT", "UPDATE"}


def test_capture_of_manage_py_test_reports_its_tests_and_requests_not_the_test_databases_set_up(tmp_path):
    # `n1lens capture --test-suite -- python manage.py test` on the sample listed `375 requests ·
    # 55 DB queries` with endpoints INSERT, PRAGMA, CREATE, SELECT, BEGIN…: every query of Django's
    # runner creating the test database, migrating, loading setUpTestData and flushing was a trace
    # of its own, and so was every query of a test's own code, so a loop in a test body was never seen.
    project = sample_copy(tmp_path)
    (project / "tests" / "test_setup_noise.py").write_text(SETUP_AND_BODY)
    captured = tmp_path / "capture.json"
    done, out = capture_manage_py_test(project, tmp_path, captured)
    assert "Ran 5 tests" in out and "OK" in out, out[-2500:]
    assert done.returncode == 1, out[-2500:]  # the tests pass; the report is over budget
    report = json.loads(captured.read_text())
    endpoints = {e["endpoint"]: e["requests"] for e in report["endpoints"]}
    assert not SQL_VERBS & {name.split(" ")[0] for name in endpoints}, endpoints
    # Each test is a request of its own, named as pytest names it; its test-client requests are the
    # endpoints' requests, below it.
    assert endpoints == {
        "GET dashboard/": 1,
        "GET dashboard/optimised/": 1,
        "test tests/test_dashboard.py::DashboardTests::test_dashboard_lists_applications": 1,
        "test tests/test_dashboard.py::OptimisedDashboardTests::test_optimised_dashboard_lists_applications": 1,
        "test tests/test_setup_noise.py::CompanyNamesTests::test_counts_jobs": 1,
        "test tests/test_setup_noise.py::CompanyNamesTests::test_reads_each_jobs_company": 1,
        "test tests/test_setup_noise.py::JobsTests::test_counts_jobs": 1,
    }
    findings = {(e["endpoint"], f["table"]) for e in report["endpoints"] for f in e["findings"]}
    # The loop in a test body is that test's finding; setUp's and tearDown's row-at-a-time loops are
    # set-up, as under pytest --n1lens.
    assert ("test tests/test_setup_noise.py::CompanyNamesTests::test_reads_each_jobs_company", "recruit_company") in findings
    assert {endpoint for endpoint, _ in findings} == {
        "GET dashboard/", "test tests/test_setup_noise.py::CompanyNamesTests::test_reads_each_jobs_company",
    }
    # Set-up outside any test or request is counted once, in the summary, and named for what it is.
    outside = report["summary"]["queriesOutsideRequests"]
    assert outside > 100, report["summary"]
    assert report["summary"]["requests"] == 7
    assert out.count(f"queries outside any request or test left out: {outside} (") == 1, out[-3000:]

    # The same N+1 findings, by signature, as pytest --n1lens gives on the same tests (a slow_query
    # depends on the machine's timing, not on the runner).
    code, pytest_out = run_pytest(tmp_path, f"--n1lens-format=json={tmp_path / 'pytest.json'}", cwd=project)
    assert code == 1, pytest_out[-2500:]
    loops = lambda path: {s for s in signatures(path) if s[1] == "n_plus_one"}  # noqa: E731
    assert len(loops(captured)) == 7
    assert loops(captured) == loops(tmp_path / "pytest.json")
