"""digitrec: handwritten digit recognition with a TensorFlow/Keras CNN.

The public names are listed in `__all__`; each lives in one wing (`data`, `reading`, `training`,
`app`, `web`, `cli`) and is loaded on first use, so `import digitrec` stays cheap and never
imports TensorFlow.
"""

from importlib import import_module

from digitrec.errors import DigitrecError

__version__ = "0.1.0"

# name -> the module that defines it
_PUBLIC = {
    "load_dataset": "digitrec.data.datasets",
    "to_mnist_array": "digitrec.reading.preprocess",
    "Prediction": "digitrec.reading.answers",
    "NumberPrediction": "digitrec.reading.answers",
    "Predictor": "digitrec.reading.predictor",
    "TrainConfig": "digitrec.training.config",
    "resolve_config": "digitrec.training.config",
    "RunOptions": "digitrec.training.runs",
    "train_and_evaluate": "digitrec.training.train",
}

__all__ = ["DigitrecError", "__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
