"""Build the service's container image (`make image`): a build context with the package's wheel
and the serve extra's wheels, so that the build itself needs no network, then `podman build` (or
`docker build`) of the Containerfile.

    python -m deploy.image [--base python:3.11-slim] [--tag localhost/digitrec:latest ...]
        [--engine "podman"] [--build-flag=--network=host ...]
    python -m deploy.image --debian-base      # a base made here with debootstrap, no registry needed

The wheels are the versions installed in this environment (`pip freeze` as constraints), so
the container answers as this machine's `digitrec` does.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = ROOT / "build" / "image"
DEBIAN_BASE = "localhost/debian-python:bookworm"
# What a minimal Debian does not need in an image: package caches and lists, docs, manuals, locales.
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale",
        "usr/share/info")  # fmt: skip


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, **kwargs)


def context(into: Path = CONTEXT) -> Path:
    """The build context: Containerfile, serve.txt and wheels/ (the package and the serve extra)."""
    if into.exists():
        shutil.rmtree(into)
    wheels = into / "wheels"
    wheels.mkdir(parents=True)
    shutil.copy2(ROOT / "Containerfile", into / "Containerfile")
    serve = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "serve_requirements.py")], check=True, capture_output=True, text=True
    ).stdout
    (into / "serve.txt").write_text(serve)
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
    ).stdout
    constraints = into / "constraints.txt"
    constraints.write_text(
        "".join(line + "\n" for line in frozen.splitlines() if not line.startswith(("-e", "digitrec")))
    )
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    _run(*pip, "download", "--dest", str(wheels), "--requirement", str(into / "serve.txt"),
         "--constraint", str(constraints))  # fmt: skip
    _run(*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(ROOT))
    return into


def debian_base(engine: list[str], tag: str = DEBIAN_BASE) -> str:
    """A base image made here: Debian bookworm's minimal system with python3 and venv, imported
    into the engine (about 40 s the first time; kept afterwards)."""
    if subprocess.run([*engine, "image", "exists", tag], capture_output=True).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="digitrec-base-") as tmp:
        root = Path(tmp) / "rootfs"
        _run("debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm", str(root),
             "http://deb.debian.org/debian", stdout=subprocess.DEVNULL)  # fmt: skip
        for path in TRIM:
            for item in (root / path).glob("*"):
                if item.is_dir() and not item.is_symlink():
                    shutil.rmtree(item)
                else:
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        _run(*engine, "import", "--change", 'CMD ["/bin/bash"]', "-", tag, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.wait()
    return tag


def build(base: str, tags: list[str], engine: list[str], flags: list[str]) -> None:
    where = context()
    tag_args = [arg for tag in tags for arg in ("--tag", tag)]
    fmt = ["--format", "docker"] if Path(engine[0]).name == "podman" else []  # podman's OCI format drops HEALTHCHECK
    _run(*engine, "build", *fmt, *flags, "--build-arg", f"BASE={base}", *tag_args, "--file",
         str(where / "Containerfile"), str(where))  # fmt: skip
    tidy(engine)


def leftovers(engine: list[str], kind: str) -> list[str]:
    """Untagged images of the Containerfile's `kind` stage ("build" or "service"), newest first."""
    filters = ["--filter", "dangling=true", "--filter", f"label=io.digitrec.image={kind}"]
    listed = subprocess.run([*engine, "images", "--quiet", "--no-trunc", *filters], capture_output=True, text=True)
    return list(dict.fromkeys(listed.stdout.split())) if listed.returncode == 0 else []


def tidy(engine: list[str]) -> None:
    """Remove what earlier builds left behind: service images whose tags a newer build took, and
    build stages (600 MB each) but the newest, which the next build reuses as its cache."""
    stale = leftovers(engine, "service") + leftovers(engine, "build")[1:]
    if stale:  # one in use by a container stays: never forced
        subprocess.run([*engine, "rmi", *stale], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="python:3.11-slim", help="the base image (default: python:3.11-slim)")
    parser.add_argument("--debian-base", action="store_true", help="make the base here with debootstrap")
    parser.add_argument("--tag", action="append", help="default: localhost/digitrec:VERSION and :latest")
    parser.add_argument("--engine", default="podman", help='the container engine command (default: "podman")')
    parser.add_argument("--build-flag", action="append", default=[], help="passed to `build` (repeat)")
    args = parser.parse_args()
    engine = shlex.split(args.engine)
    if shutil.which(engine[0]) is None:
        print(f"deploy.image: {engine[0]} is not installed (Debian: apt-get install podman)", file=sys.stderr)
        return 1
    base = debian_base(engine) if args.debian_base else args.base
    tags = args.tag or [f"localhost/digitrec:{version()}", "localhost/digitrec:latest"]
    build(base, tags, engine, args.build_flag)
    print(" ".join(tags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
