"""python -m wagsite.record seed, then python -m wagsite.record TRACE_FILE: migrate and seed the site; browse it through Django's test
client with the real OpenTelemetry SDK (Django with sqlcommenter, sqlite3) writing length-delimited
OTLP protobuf, as a developer's first recording of a dev server would."""

import io
import os
import struct
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wagsite.settings")

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.instrumentation.django import DjangoInstrumentor  # noqa: E402
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor  # noqa: E402
from opentelemetry.instrumentation.utils import suppress_instrumentation  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402


class FileExporter(SpanExporter):
    def __init__(self, path):
        self.path = path

    def export(self, spans):
        message = encode_spans(spans).SerializeToString()
        with open(self.path, "ab") as f:
            f.write(struct.pack(">I", len(message)) + message)
        return SpanExportResult.SUCCESS


def seed():
    from django.core.files.images import ImageFile
    from django.core.management import call_command
    from PIL import Image as PILImage
    from wagtail.images.models import Image
    from wagtail.models import Site

    from blog.models import Author, BlogIndexPage, BlogPage, Quote

    from django.contrib.auth import get_user_model

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    authors = [Author.objects.create(name=f"Author {i}") for i in range(4)]
    for i in range(12):
        Quote.objects.create(text=f"Quote {i}", author=authors[i % 4])
    home = Site.objects.get(is_default_site=True).root_page
    index = home.add_child(instance=BlogIndexPage(title="Blog", slug="blog"))
    for i in range(8):
        buf = io.BytesIO()
        PILImage.new("RGB", (160, 120), (i * 30 % 255, 90, 150)).save(buf, "PNG")
        image = Image.objects.create(title=f"Image {i}", file=ImageFile(buf, name=f"image{i}.png"))
        post = index.add_child(instance=BlogPage(title=f"Post {i}", slug=f"post-{i}", author=authors[i % 4], image=image))
        post.tags.add(f"tag{i % 3}", "wagtail")
        post.save_revision().publish()


def browse():
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    for _ in range(4):
        for url in ("/blog/", "/blog/post-1/", "/blog/post-2/", "/"):
            assert client.get(url).status_code == 200, url
    # Logging in is the harness's work, not a request's: keep it out of the recording.
    with suppress_instrumentation():
        client.force_login(get_user_model().objects.get(username="admin"))
    for _ in range(3):
        assert client.get("/admin/snippets/blog/quote/").status_code == 200


if __name__ == "__main__":
    import django

    if sys.argv[1] == "seed":
        django.setup()
        seed()
    else:
        # Tracing first, as a project's settings or manage.py would: the drivers are wrapped before Django connects.
        provider = TracerProvider(resource=Resource.create({"service.name": "wagsite"}))
        provider.add_span_processor(SimpleSpanProcessor(FileExporter(sys.argv[1])))
        trace.set_tracer_provider(provider)
        SQLite3Instrumentor().instrument()
        DjangoInstrumentor().instrument(is_sql_commentor_enabled=True)
        django.setup()
        browse()
        provider.shutdown()
