"""Accuracy, speed and load measurements; run each from the repository root as
`python -m benchmarks.NAME` (results in benchmarks/results/)."""
