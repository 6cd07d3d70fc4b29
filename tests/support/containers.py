"""Containers and HAProxy on this machine, for tests/deploy and benchmarks/deploy_load: podman as
this machine allows it (runc, cgroupfs, host network, raised ulimits), every container named and
removed by its name."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid

from tests.support.helpers import REPO

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]
RUN = ["--network", "host", *LIMITS, "--no-healthcheck"]  # systemd timers, which run healthchecks, are not here


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=check)


class Container:
    def __init__(self, image: str, *args: str, volumes: tuple[str, ...] = ()):
        self.name = f"digitrec-test-{uuid.uuid4().hex[:8]}"
        mounts = [arg for v in volumes for arg in ("--volume", v)]
        podman("run", "--detach", "--name", self.name, *RUN, *mounts, image, *args)

    def logs(self) -> str:
        out = podman("logs", self.name, check=False)
        return out.stdout + out.stderr

    def stop(self, grace: int = 15) -> float:
        start = time.monotonic()
        podman("stop", "--time", str(grace), self.name, timeout=grace + 30, check=False)
        return time.monotonic() - start

    def remove(self) -> None:
        podman("rm", "--force", self.name, check=False, timeout=60)


def wait_ok(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def haproxy_config(front: int, replicas: list[int]) -> str:
    text = (REPO / "deploy" / "haproxy.cfg").read_text()
    text = text.replace("bind 127.0.0.1:8080", f"bind 127.0.0.1:{front}")
    text = text.replace("server replica1 127.0.0.1:8001 check", f"server replica1 127.0.0.1:{replicas[0]} check")
    text = text.replace("server replica2 127.0.0.1:8002 check", f"server replica2 127.0.0.1:{replicas[1]} check")
    assert text.count(f"127.0.0.1:{replicas[0]}") == 1 and text.count(f"127.0.0.1:{replicas[1]}") == 1
    return text
