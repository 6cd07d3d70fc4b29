"""The benchmarks' own command lines: a missing tool is a one-line error, not a traceback."""

from __future__ import annotations

import sys

from benchmarks import mutation


def test_the_mutation_benchmark_without_cosmic_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # a venv without cosmic-ray
    monkeypatch.setattr(sys, "argv", ["mutation", "--only", "rules"])
    assert mutation.main() == 2
    assert capsys.readouterr().err == "benchmarks.mutation: cosmic-ray is not installed: run `make bench-mutation`\n"
