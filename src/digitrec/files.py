"""Files written whole: every write goes to a temporary name beside its target and is renamed
over it only once complete, so an interrupted write (Ctrl+C, a full disk, a crash) never leaves a
half-written file where a good one was. A device, a pipe or /dev/stdout is written into once the
write is complete, never replaced. And JSON read back with one clear error."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from digitrec.errors import DigitrecError


def os_error_parts(exc: OSError) -> tuple[str | None, str]:
    """The file and the system's reason of an OSError, one line each, even when HDF5 or TensorFlow
    wrote a multi-line message ("No space left on device (the disk is full)", "File too large",
    "Read-only file system", "Permission denied")."""
    filename = exc.filename
    if filename is None:
        found = re.search(r"(?:filename|file) = '([^']+)'", str(exc))
        filename = found.group(1) if found else None
    reason = os.strerror(exc.errno) if isinstance(exc.errno, int) and exc.errno > 0 else first_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (the disk is full)"
    return (str(filename) if filename is not None else None), reason


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _open_file(path: Path) -> bool:
    """Whether `path` stands for a file this process has open: /dev/stdout, /dev/fd/N,
    /proc/self/fd/N, or a link to one."""
    name = str(path.absolute())
    for _ in range(40):  # the kernel's own bound on links followed
        if name.startswith(("/proc/", "/dev/fd/")):
            return True
        if not os.path.islink(name):
            return False
        name = os.path.join(os.path.dirname(name), os.readlink(name))
    return False


def _write_through(source: Path, target: Path) -> None:
    """`source`'s bytes written into `target` as it is (a device, a pipe, a terminal, stdout),
    appended: stdout redirected to a file keeps what the command printed before, which comes first."""
    import shutil
    import sys

    sys.stdout.flush()
    with open(source, "rb") as src, open(target, "ab") as dst:
        shutil.copyfileobj(src, dst)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    Args:
      path: the final file name.
      suffix: the temporary file's suffix (some writers choose the format by it); defaults
        to the final name's suffix.
    """
    path = Path(path)
    # /dev/stdout, a device, a pipe: written through once the block succeeds, never replaced.
    through = _open_file(path) or (path.exists() and not path.is_file() and not path.is_dir())
    if not through and path.is_symlink() and path.is_file():
        path = Path(os.path.realpath(path))  # a link to a file: the file is replaced, the link kept
    try:
        if not through:
            path.parent.mkdir(parents=True, exist_ok=True)
        # The temporary name keeps the target's suffix: Keras picks the format by it.
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.tmp-",
            suffix=path.suffix if suffix is None else suffix,
            dir=None if through else path.parent,
        )
        os.close(fd)
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; the final file follows the umask
    except OSError as exc:
        raise DigitrecError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        if through:
            _write_through(tmp, path)
            tmp.unlink()
        else:
            _fsync_file(tmp)
            os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DigitrecError(f"cannot write {path}: {os_error_parts(exc)[1]}") from None
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed process left in `folder` (atomic writes never finished)."""
    removed = []
    for path in Path(folder).glob(".*.tmp-*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON to `path` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, Paths: the things metrics and configs are made of.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, turning a missing or malformed file into a DigitrecError."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DigitrecError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DigitrecError(f"{path} is not readable JSON ({exc})") from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), at most 300
    characters: the reason in a one-line error."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
