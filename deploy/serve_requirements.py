"""Print the `serve` extra's requirements, one a line, with `digitrec[...]` expanded: what the
container image installs beside the package (installed itself with --no-deps).

    python deploy/serve_requirements.py > build/image/serve.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def expand(extra: str, extras: dict[str, list[str]], seen: set[str]) -> list[str]:
    out: list[str] = []
    for requirement in extras[extra]:
        own = re.fullmatch(r"digitrec\[([\w,-]+)\]", requirement)
        if own:
            for name in own.group(1).split(","):
                if name not in seen:
                    seen.add(name)
                    out += expand(name, extras, seen)
        elif requirement not in out:
            out.append(requirement)
    return out


def main() -> int:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    print("\n".join(expand("serve", extras, {"serve"})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
