"""Helpers the tests and the benchmarks share.

- `helpers`: the repository's root, the CLI run as a subprocess, digits drawn without a font,
  skips that fail in CI;
- `xdriver`: the drawing app on Xvfb, driven with real mouse strokes;
- `realistic`: the realistic image sets (photos, fonts, numbers, non-digits);
- `serverproc`: a real `digitrec serve` on loopback;
- `hostile_inputs`: malformed and random uploads.
"""
