"""Process helpers for the end-to-end tests: child processes with log files, started on free
loopback ports and stopped with SIGTERM (then SIGKILL); a process's log is shown when it fails.
"""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECRUIT = ROOT / "samples" / "recruit"
PYTHON = sys.executable  # the repo venv's, as scripts/e2e.sh runs pytest with it
# How to start n1lens: N1LENS_COMMAND (e.g. "n1lens" for an installed one), else the repo's CLI.
N1LENS_COMMAND = (
    shlex.split(os.environ["N1LENS_COMMAND"])
    if os.environ.get("N1LENS_COMMAND")
    else ["node", str(ROOT / "bin" / "n1lens.js")]
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name: str, args: list, log_dir: Path, env=None, cwd=ROOT):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._log_file = open(self.log, "wb")
        self.popen = subprocess.Popen(
            [str(arg) for arg in args], cwd=cwd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- last lines of {self.log} ---\n" + "\n".join(text[-lines:])

    def check_alive(self):
        if self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.popen.returncode}\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()


def wait_for(process: Process, url: str, timeout: float = 60.0):
    """Wait until url answers HTTP (any status) while process is alive."""
    deadline = time.monotonic() + timeout
    while True:
        process.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{process.name}: {url} did not answer within {timeout:.0f} s\n{process.log_tail()}"
                )
            time.sleep(0.2)


def manage(*args: str, env: dict) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=RECRUIT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout
