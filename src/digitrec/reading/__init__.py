"""From any image to an answer, without TensorFlow: `images` reads, `ink` finds the writing,
`preprocess` makes the 28x28 MNIST layout, `segment` cuts a row of digits, `rules` holds the
"no digit" thresholds, `answers` the answer types, `predictor` the `Predictor` every front end
uses, and `explain` what the network saw.

Imports only the package root.
"""
