"""Tests of `digitrec.app`."""
