"""Start a real `digitrec serve` on a free loopback port, and stop it (tests and benchmarks)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "digitrec.cli", "serve", "--port", str(self.port), *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if json.loads(r.read())["model_loaded"]:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"digitrec serve exited: {self.process.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError("digitrec serve did not answer /health")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stderr.read() if self.process.stderr else ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def multipart(files: list[tuple[str, str, bytes]], field: str = "file") -> tuple[bytes, str]:
    """Encode (name, content type, bytes) uploads as a multipart/form-data body."""
    boundary = "digitrec-boundary-7d1f"
    parts = []
    for name, ctype, content in files:
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                      f"Content-Type: {ctype}\r\n\r\n").encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
