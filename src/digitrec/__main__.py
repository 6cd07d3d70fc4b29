"""`python -m digitrec …` is the `digitrec` command."""

import sys

from digitrec.cli.main import main

if __name__ == "__main__":  # not when a process of `predict --jobs` starts (spawn imports it)
    sys.exit(main())
