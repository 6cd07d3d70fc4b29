"""digitrec: handwritten digit recognition with a TensorFlow/Keras CNN.

Importing this package is cheap: it never imports TensorFlow. The modules that need it
(`train`, `models`, `store`, `evaluate`) import it when they are used.
"""

__version__ = "0.1.0"

__all__ = ["DigitrecError", "__version__"]


class DigitrecError(Exception):
    """A failure the user can act on; its message is one sentence, shown without a traceback."""

    exit_code = 1  # what the command line exits with
    label = "error: "  # what the command line puts before the message
