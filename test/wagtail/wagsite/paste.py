"""python -m wagsite.paste JSON: pastes n1lens's printed fixes into the site (no tracing) and reports,
as JSON, whether each evaluates (every name exists on its model) and the queries a page then makes."""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wagsite.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from blog.models import _pasted  # noqa: E402


def evaluates(code: str) -> str | None:
    """None when the queryset evaluates; the error otherwise (FieldError, AttributeError…)."""
    os.environ["N1LENS_PASTE"] = code
    try:
        list(_pasted("N1LENS_PASTE"))
        return None
    except Exception as e:  # noqa: BLE001  (any error is what the test reports)
        return f"{type(e).__name__}: {e}"


def queries(url: str, env: dict[str, str]) -> int:
    """Queries of the second request to `url` (the first may fill caches) with `env` pasted."""
    os.environ.pop("BLOG_POSTS", None)
    os.environ.pop("QUOTES", None)
    os.environ.update(env)
    client = Client()
    if url.startswith("/admin/"):
        client.force_login(get_user_model().objects.get(username="admin"))
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    out = {
        "errors": {code: evaluates(code) for code in job.get("evaluate", [])},
        "queries": [queries(p["url"], p["env"]) for p in job.get("pages", [])],
    }
    print(json.dumps(out))
