"""The `digitrec` command: `main` (parser, exit codes, error labels), `training` and `reading`
(the subcommands), `output` (what they share).

The only wing that knows exit codes and flags; it imports every other wing.
"""
