"""Tests of `digitrec.reading`."""
