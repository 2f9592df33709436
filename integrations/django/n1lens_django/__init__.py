"""n1lens integration for Django: `manage.py n1lens_schema` writes the model schema n1lens reads; `n1lens_django.tracing` sets up OpenTelemetry with code locations on every query span."""

from n1lens_django.schema import SCHEMA_VERSION, build_schema

__all__ = ["SCHEMA_VERSION", "build_schema"]
