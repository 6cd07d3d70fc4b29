"""Start a real `digitrec serve` on a free loopback port, and stop it (tests and benchmarks)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started, from any of its threads (the service starts replacement
    workers from a thread), sorted."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process has gone
        return []
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:  # a thread that has just ended
            pass
    return sorted(found)


def process_state(pid: int) -> str:
    """The state letter of /proc/PID/stat (R, S, T for stopped, Z for a zombie…), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) a process has used so far, in seconds; 0.0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, timeout: float = 120.0, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The server's output goes to a file, not a pipe: nobody reads a pipe while the server
        # runs, and a full one (a few dozen tracebacks) would block the server mid-request.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digitrec", "serve", "--port", str(self.port), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env} if env else None,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if json.loads(r.read())["model_loaded"]:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"digitrec serve exited: {self.output()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError("digitrec serve did not answer /health")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """What the server has printed so far (stdout and stderr)."""
        self.log.seek(0)
        return self.log.read()

    def close(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log.closed:  # closed already
            return ""
        text = self.output()
        self.log.close()
        return text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def multipart(files: list[tuple[str, str, bytes]], field: str = "file") -> tuple[bytes, str]:
    """Encode (name, content type, bytes) uploads as a multipart/form-data body."""
    boundary = "digitrec-boundary-7d1f"
    parts = []
    for name, ctype, content in files:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# Debian's Chromium (Playwright's own browser download cannot work here), started quietly.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """A headless Chromium for the drawing page, from a Playwright session."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
