"""Tests of `digitrec.data`."""
