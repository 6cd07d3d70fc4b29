"""`python -m digitrec.cli …` is the `digitrec` command, as `python -m digitrec …` is."""

import sys

from digitrec.cli.main import main

sys.exit(main())
