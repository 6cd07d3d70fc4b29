"""digitrec's test suite: a folder per wing of the package, shared helpers in `support`."""
