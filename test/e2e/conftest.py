"""Session fixtures for the end-to-end tests: a PostgreSQL cluster, seeded databases, the stub
services and the recruit schema file. Processes come from e2e_processes.py.
"""

import os
import subprocess
from pathlib import Path

import pytest

from e2e_processes import PYTHON, RECRUIT, ROOT, Process, free_port, manage, wait_for


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def postgres_url(work_dir):
    """A private PostgreSQL cluster (scripts/postgres.sh with its own state file)."""
    env = {
        **os.environ,
        "N1LENS_PG_STATE": str(work_dir / "postgres.env"),
        "N1LENS_PG_PORT": str(free_port()),
    }
    script = ROOT / "scripts" / "postgres.sh"
    try:
        subprocess.run(["bash", script, "start"], env=env, check=True)
        url = subprocess.run(["bash", script, "url"], env=env, check=True, capture_output=True, text=True)
        yield url.stdout.strip()
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def database_env(work_dir):
    """A function (kind, postgres_url) -> app environment for a migrated, seeded database of that
    kind; each kind is migrated and seeded once per session."""
    seeded: dict[str, dict] = {}

    def for_kind(kind: str, postgres_url: str | None = None) -> dict:
        if kind not in seeded:
            env = {**os.environ, "RECRUIT_DB": kind}
            if kind == "postgres":
                env["RECRUIT_DATABASE_URL"] = postgres_url
            else:
                env["RECRUIT_SQLITE_PATH"] = str(work_dir / "recruit.sqlite3")
            manage("migrate", "-v0", env=env)
            manage("seed_demo", env=env)
            seeded[kind] = env
        return dict(seeded[kind])

    return for_kind


@pytest.fixture(scope="session")
def stub_url(work_dir):
    port = free_port()
    stub = Process("stub-services", [PYTHON, RECRUIT / "stub_services.py", "--port", port], work_dir)
    try:
        wait_for(stub, f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        stub.stop()


@pytest.fixture(scope="session")
def schema_file(work_dir, database_env) -> Path:
    """The recruit app's schema, written fresh by the integration's management command."""
    path = work_dir / "recruit-schema.json"
    manage("n1lens_schema", "-o", str(path), env=database_env("sqlite"))
    return path
