"""`python -m digitrec …` is the `digitrec` command."""

import sys

from digitrec.cli.main import main

sys.exit(main())
