"""A Wagtail site of our own, recorded as a new user would (DEBUG=True, SQLite, the real
OpenTelemetry SDK with sqlcommenter): n1lens reports no false finding, every genuine N+1, and fixes
that work when pasted into the site."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INDEX = "GET ^((?:[\\w\\-]+/)*)$ [page: blog_blogindexpage]"
QUOTES = "GET admin/snippets/blog/quote/"
# The loops the site really has in its steady state: the index lists posts reading image, author
# and tags per row; the admin's quote listing reads each quote's author.
GENUINE = {(INDEX, "wagtailimages_image"), (INDEX, "blog_author"), (INDEX, "taggit_tag"), (QUOTES, "blog_author")}


def run(args, env, **kw):
    return subprocess.run(args, cwd=HERE, env=env, check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("wagsite")
    env = {**os.environ, "WAGSITE_DIR": str(work), "PYTHONPATH": str(HERE)}
    run([sys.executable, "-m", "wagsite.record", "seed"], env)
    trace = work / "trace.pb"
    run([sys.executable, "-m", "wagsite.record", str(trace)], env)
    schema = work / "schema.json"
    run([sys.executable, "-m", "django", "n1lens_schema", "-o", str(schema)], {**env, "DJANGO_SETTINGS_MODULE": "wagsite.settings"})
    out = run(["node", str(ROOT / "bin" / "n1-report.js"), "--format", "json", "--schema", str(schema), "--max-findings", "100", str(trace)], env)
    return {"env": env, "report": json.loads(out.stdout), "schema": json.loads(schema.read_text()), "trace": trace, "schema_file": schema}


def paste(site, job):
    return json.loads(run([sys.executable, "-m", "wagsite.paste", json.dumps(job)], site["env"]).stdout)


def findings(report, kinds):
    return {(e["endpoint"], f["table"]): f for e in report["endpoints"] for f in e["findings"] if f["kind"] in kinds}


def test_drops_djangos_debug_queries_and_counts_them(site):
    dropped = site["report"]["summary"]["frameworkQueriesDropped"]
    assert dropped["byRule"]["django_sqlite_debug_quote"] > 100


def test_no_false_finding_and_every_genuine_n_plus_one(site):
    loops = findings(site["report"], {"n_plus_one", "repeated_write"})
    assert set(loops) == GENUINE
    # The renditions generated on the first visit are warm-up, not an N+1.
    assert set(findings(site["report"], {"warm_up"})) <= {(INDEX, "wagtailimages_rendition")}


def test_the_catch_all_route_is_split_by_page_model(site):
    by_name = {e["endpoint"]: e for e in site["report"]["endpoints"]}
    assert by_name[INDEX]["split"] == {"route": "GET ^((?:[\\w\\-]+/)*)$", "by": "page_model", "value": "blog_blogindexpage"}
    assert "GET ^((?:[\\w\\-]+/)*)$ [page: blog_blogpage]" in by_name


def test_unseen_routes_are_the_sites_own_views_not_wagtails(site):
    # Wagtail brings some 200 routes (its admin, page serving, image serving). Their views live in
    # site-packages: the package's, never the site's to delete, so only the site's own unseen view is listed.
    assert sum("site-packages" in u.get("file", "") for u in site["schema"]["urls"]) > 100
    out = run(["node", str(ROOT / "bin" / "n1-report.js"), "--format", "json", "--schema", str(site["schema_file"]),
               "--list-unseen", "--max-findings", "1000", str(site["trace"])], site["env"])
    unseen = [(f["subject"], f["deadView"]["view"]) for f in json.loads(out.stdout)["serviceFindings"] if f["kind"] == "dead_view"]
    assert unseen == [("feed/", "blog.views.feed")]


def model_of(schema, table):
    return next(m["model"].split(".")[1] for m in schema["models"] if m["table"] == table)


def printed_querysets(site):
    """Every queryset n1lens printed: the endpoints' combined fixes and each finding's own call on its trigger's model."""
    out = []
    for e in site["report"]["endpoints"]:
        out += [line for line in e["fix"].splitlines() if ".objects" in line and not line.startswith("#")]
        for f in e["findings"]:
            code = f["suggestion"]["code"]
            if f["suggestion"]["method"] != "manual" and code.startswith(".") and f["trigger"]:
                out.append(model_of(site["schema"], f["trigger"]["table"]) + ".objects" + code)
    return sorted(set(out))


def test_every_printed_name_exists_on_its_model(site):
    codes = printed_querysets(site)
    assert len(codes) >= 4
    errors = paste(site, {"evaluate": codes})["errors"]
    assert {c: e for c, e in errors.items() if e is not None} == {}


def test_a_wrong_name_would_fail_the_check(site):
    # The check above is real: the names the issue saw crash do crash here.
    errors = paste(site, {"evaluate": ["BlogPage.objects.prefetch_related('blogpagetag')", "BlogPage.objects.prefetch_related('image__rendition_set')"]})["errors"]
    assert all(e is not None for e in errors.values())


def test_every_printed_fix_pasted_reaches_the_optimum(site):
    by_name = {e["endpoint"]: e for e in site["report"]["endpoints"]}
    index_fix = by_name[INDEX]["fix"]
    quotes_fix = by_name[QUOTES]["fix"]
    # Renditions come from Wagtail's cache once generated: prefetching them would only add queries.
    optimum_index = "BlogPage.objects.select_related('image', 'author').prefetch_related('tags')"
    optimum_quotes = "Quote.objects.select_related('author')"
    before_index, pasted_index, best_index, before_quotes, pasted_quotes, best_quotes = paste(site, {"pages": [
        {"url": "/blog/", "env": {}},
        {"url": "/blog/", "env": {"BLOG_POSTS": index_fix}},
        {"url": "/blog/", "env": {"BLOG_POSTS": optimum_index}},
        {"url": "/admin/snippets/blog/quote/", "env": {}},
        {"url": "/admin/snippets/blog/quote/", "env": {"QUOTES": quotes_fix}},
        {"url": "/admin/snippets/blog/quote/", "env": {"QUOTES": optimum_quotes}},
    ]})["queries"]
    assert pasted_index == best_index < before_index
    assert pasted_quotes == best_quotes < before_quotes
    # The admin fix says where it goes, as code that works there: the viewset's get_queryset().
    [quote_finding] = by_name[QUOTES]["findings"]
    placed = "def get_queryset(self, request): return Quote.objects.all().select_related('author')"
    assert placed in quote_finding["suggestion"]["placement"]
    [pasted_placement] = paste(site, {"pages": [{"url": "/admin/snippets/blog/quote/", "env": {"QUOTES": "Quote.objects.all().select_related('author')"}}]})["queries"]
    assert pasted_placement == best_quotes
