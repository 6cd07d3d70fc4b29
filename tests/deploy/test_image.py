"""The container image and replicas behind HAProxy (`make test-deploy`, which `make test` runs in CI
and wherever podman is installed; the marker `deploy` keeps them out of a plain `pytest`).

Built and run with podman as this machine allows (runc, cgroupfs, host network, raised ulimits: the
flags below), from a base made with debootstrap (no registry is reachable here). Every container
and process started is stopped by its own name or id."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest

from tests.support.containers import LIMITS, PODMAN, RUN, Container, haproxy_config, podman, wait_ok
from tests.support.helpers import draw_digit, need, run_cli
from tests.support.serverproc import free_port, multipart

TAG = "localhost/digitrec:test"

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def image():
    for tool in ("podman", "runc", "debootstrap"):
        need(shutil.which(tool) is not None, tool)
    from deploy import image as build

    base = build.debian_base(PODMAN)
    build.build(base, [TAG], PODMAN, ["--network", "host", *LIMITS])
    return TAG


def test_the_image_is_lean_runs_as_a_user_and_has_no_tensorflow(image):
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size < 600 * 10**6, size
    health = podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image).stdout
    assert "/livez" in health
    probe = podman("run", "--rm", *RUN, "--entrypoint", "python3", image, "-c",
                   "import os; print(os.getuid()); import tensorflow", check=False)  # fmt: skip
    assert probe.returncode == 1 and probe.stdout.split() != ["0"] and "No module named 'tensorflow'" in probe.stderr


def test_the_container_answers_as_the_host_does(image, tmp_path):
    from digitrec.store import PRETRAINED

    seven = tmp_path / "seven.png"
    draw_digit("7").save(seven)
    tmp_path.chmod(0o755)  # readable by the container's own user (uid 10001), as a user's folder is
    seven.chmod(0o644)
    host = json.loads(run_cli("predict", str(seven), "--json", "--model", str(PRETRAINED.parent)).stdout)
    # `predict` on a mounted folder
    mounted = podman("run", "--rm", *RUN, "--volume", f"{tmp_path}:/data:ro", image, "predict", "/data/seven.png",
                     "--json")  # fmt: skip
    inside = json.loads(mounted.stdout)
    assert {k: inside[k] for k in ("digit", "confidence", "probabilities")} == {
        k: host[k] for k in ("digit", "confidence", "probabilities")
    }
    # and the service
    port = free_port()
    container = Container(image, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ok(url + "/readyz")
        body, ctype = multipart([("seven.png", "image/png", seven.read_bytes())])
        answers = {}
        for route in ("/predict", "/explain"):
            request = urllib.request.Request(url + route, data=body, headers={"Content-Type": ctype})
            with urllib.request.urlopen(request, timeout=30) as r:
                answers[route] = json.loads(r.read())
        for path in ("/", "/livez", "/health", "/metrics", "/docs"):
            with urllib.request.urlopen(url + path, timeout=10) as r:
                assert r.status == 200, path
        assert {k: answers["/predict"][k] for k in ("digit", "confidence", "probabilities")} == {
            k: host[k] for k in ("digit", "confidence", "probabilities")
        }
        assert answers["/explain"]["digit"] == 7 and len(answers["/explain"]["attribution"]) == 28
        seconds = container.stop(grace=15)  # SIGTERM: drains and exits
        assert seconds < 15 and "digitrec serve: stopped" in container.logs()
    finally:
        container.remove()


def test_two_replicas_behind_haproxy_lose_nothing_when_one_is_killed(image, tmp_path):
    from benchmarks.web_load import sample_uploads

    need(shutil.which("haproxy") is not None, "haproxy")
    ports = [free_port(), free_port()]
    front = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(front, ports))
    replicas = [Container(image, "serve", "--host", "127.0.0.1", "--port", str(p), "--workers", "1",
                          "--keep-alive", "75", "--no-access-log") for p in ports]  # fmt: skip
    proxy = None
    try:
        for p in ports:
            wait_ok(f"http://127.0.0.1:{p}/readyz")
        proxy = subprocess.Popen(["haproxy", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_ok(f"http://127.0.0.1:{front}/readyz")
        uploads = sample_uploads()
        statuses: list[int | str] = []
        lock = threading.Lock()
        left = iter(range(2000))

        def client(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", front, timeout=30)
            i = k
            while True:
                with lock:
                    if next(left, None) is None:
                        break
                body, ctype, _ = uploads[i % len(uploads)]
                i += 16
                try:
                    conn.request("POST", "/predict", body=body, headers={"Content-Type": ctype})
                    response = conn.getresponse()
                    response.read()
                    outcome: int | str = response.status
                except (OSError, http.client.HTTPException) as exc:
                    outcome = type(exc).__name__
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", front, timeout=30)
                with lock:
                    statuses.append(outcome)
            conn.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        while len(statuses) < 300:  # mid-load
            time.sleep(0.01)
        podman("kill", replicas[0].name)
        for t in threads:
            t.join(timeout=300)
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        for r in replicas:
            r.remove()
    failed = {s: statuses.count(s) for s in set(statuses) if s != 200}
    assert len(statuses) == 2000 and not failed, failed


def test_a_new_build_leaves_no_old_images_behind(image):
    """Each build used to leave its 600 MB build stage, and the image whose tag it took, untagged on
    disk. A new build (here `--no-cache`, as a changed wheel makes one) removes the old image and
    keeps one build stage, the next build's cache. (Last in this module: the tag then names the
    new image.)"""
    from deploy import image as build

    before = podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    build.build(build.debian_base(PODMAN), [TAG], PODMAN, ["--network", "host", *LIMITS, "--no-cache"])
    assert podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip() != before
    assert podman("image", "exists", before, check=False).returncode == 1  # removed, not left untagged
    assert build.leftovers(PODMAN, "service") == []
    assert len(build.leftovers(PODMAN, "build")) == 1
