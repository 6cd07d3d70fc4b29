"""From a dataset to a run folder: `config` and `precision` say how, `architectures` builds the
network, `augment` and `negatives` make what it trains on, `train` runs one training (`runs` keeps
its folder, `distribute` its devices), `evaluate`, `network` and `export` judge and ship it, and
`ensemble` averages runs.

Imports `reading`, `data` and the package root.
"""
