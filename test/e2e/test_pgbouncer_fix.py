"""The printed PgBouncer fix is a drop-in: n1-report's pgbouncer.ini, with only its placeholders
filled in (and a password in the auth_file it names), runs a real PgBouncer in front of the e2e
PostgreSQL, and the printed settings.py lines, pasted after the recruit app's DATABASES, connect
Django through it. PgBouncer comes from Debian (installed when missing and run as root, as
scripts/postgres.sh does for PostgreSQL).
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from e2e_processes import PYTHON, RECRUIT, ROOT, Process, free_port

SAMPLE = ROOT / "samples" / "traces" / "recruit.jsonl.gz"
RUN_AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found is None and os.geteuid() == 0:
        apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # A machine whose PostgreSQL came preinstalled may have no package lists yet.
        if subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], env=apt, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=apt, check=True, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], env=apt, check=True, capture_output=True)
        found = "/usr/sbin/pgbouncer"
    if found is None:
        pytest.fail("pgbouncer is not installed; run as root, or: sudo apt-get install -y pgbouncer")
    return found


def printed_fix() -> str:
    # The bundled recording against max_connections 2: its one connection at peak is pressure.
    out = subprocess.run(["node", str(ROOT / "bin" / "n1-report.js"), str(SAMPLE), "-f", "json", "--max-findings", "1000",
                          "--db-max-connections", "2"], capture_output=True, text=True, check=True)
    [finding] = [f for f in json.loads(out.stdout)["serviceFindings"] if f["kind"] == "connection_pressure"]
    assert finding["suggestion"]["path"] == "PgBouncer (transaction mode)"
    return finding["suggestion"]["code"]


def wait_listening(port: int, process: Process):
    for _ in range(200):
        process.check_alive()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"PgBouncer is not listening on {port}\n{process.log_tail()}")


def test_the_printed_pgbouncer_ini_and_settings_connect_django_through_pgbouncer(database_env, postgres_url):
    code = printed_fix()
    ini, settings = code.split("# settings.py", 1)
    server = urlparse(postgres_url)
    port = free_port()
    # Its own directory in /tmp: the postgres user PgBouncer runs as cannot enter pytest's.
    work = Path(tempfile.mkdtemp(prefix="n1lens-pgbouncer."))
    work.chmod(0o755)
    userlist = work / "userlist.txt"
    userlist.write_text('"recruit" "recruit"\n')
    # Only the placeholders and where the auth_file is: the rest runs as printed.
    filled = (ini.replace("POSTGRES_HOST", "127.0.0.1").replace("port=5432", f"port={server.port}")
              .replace("DBNAME", server.path.lstrip("/")).replace("listen_port = 6432", f"listen_port = {port}")
              .replace("/etc/pgbouncer/userlist.txt", str(userlist)))
    # Where this test's PgBouncer keeps its socket (a host's package sets it up); it logs to stderr.
    filled += f"unix_socket_dir = {work}\n"
    (work / "pgbouncer.ini").write_text(filled)
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        for f in work.iterdir():
            shutil.chown(f, "postgres")
    bouncer = Process("pgbouncer", [*RUN_AS_POSTGRES, pgbouncer_binary(), work / "pgbouncer.ini"], work)
    try:
        wait_listening(port, bouncer)
        env = {**database_env("postgres", postgres_url), "PGBOUNCER_PORT": str(port)}
        pasted = settings.replace('"PGBOUNCER_HOST"', '"127.0.0.1"').replace('"6432"', "os.environ['PGBOUNCER_PORT']")
        script = (
            "import os, django\n"
            "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
            "from django.conf import settings\n"
            "DATABASES = settings.DATABASES\n"
            f"{pasted}\n"
            "django.setup()\n"
            "from django.db import connection\n"
            "from recruit.models import Job\n"
            "print(Job.objects.count(), connection.settings_dict['PORT'])\n"
        )
        done = subprocess.run([PYTHON, "-c", script], cwd=RECRUIT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-3000:] + "\n" + bouncer.log_tail()
        count, via = done.stdout.split()
        assert int(count) > 0 and via == str(port)
    finally:
        bouncer.stop()
        shutil.rmtree(work, ignore_errors=True)
