"""Seed-style entry point: `python main.py …` is the same as `digitrec …`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from digitrec.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
