"""Tests of `digitrec.web`."""
