"""Tests of `digitrec.cli`."""
