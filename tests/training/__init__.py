"""Tests of `digitrec.training`."""
