"""Model builders by name. Each takes the input shape and class count from the dataset.

`build_model("seed_cnn", (28, 28, 1), 10)` is the classic tutorial CNN and `classic_cnn` the same
layers in two blocks (what `make run` trains); the same builders train
Fashion-MNIST and 32x32x3 images unchanged. The output layer computes in float32 under any Keras
dtype policy, so the probabilities stay exact when the rest trains in mixed bfloat16.
"""

from __future__ import annotations

from collections.abc import Callable

from digitrec._tf import keras as _keras
from digitrec.errors import DigitrecError


def seed_cnn(input_shape: tuple[int, ...], num_classes: int):
    """The classic Keras MNIST CNN (about 1.2 M weights on 28x28x1).

    Conv2D(32, 3x3) - Conv2D(64, 3x3) - MaxPooling2D(2x2) - Dropout(0.25) - Flatten -
    Dense(128) - Dropout(0.5) - Dense(num_classes, softmax).
    """
    keras = _keras()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Dropout(0.25, name="dropout1"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="dense"),
            layers.Dropout(0.5, name="dropout2"),
            layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32"),
        ],
        name="seed_cnn",
    )


def classic_cnn(input_shape: tuple[int, ...], num_classes: int):
    """The tutorial's layers in two blocks, what `make run` trains (about 0.27 M weights on 28x28x1).

    [Conv2D(32, 3x3) - Conv2D(32, 3x3) - MaxPooling2D - Dropout(0.25)] then the same with 64
    filters - Flatten - Dense(128) - Dropout(0.5) - Dense(num_classes, softmax). The first
    convolution of each block keeps the size ("same" padding). About the arithmetic of `seed_cnn`
    per image, with a second pooling that sees whole strokes: more accurate and surer on
    photographed and drawn digits in the same 5 epochs (docs/training.md).
    """
    keras = _keras()
    layers = keras.layers

    def block(filters: int, n: int) -> list:
        return [
            layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{2 * n - 1}"),
            layers.Conv2D(filters, 3, activation="relu", name=f"conv{2 * n}"),
            layers.MaxPooling2D(2, name=f"pool{n}"),
            layers.Dropout(0.25, name=f"dropout{n}"),
        ]

    return keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            *block(32, 1),
            *block(64, 2),
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="dense"),
            layers.Dropout(0.5, name="dropout3"),
            layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32"),
        ],
        name="classic_cnn",
    )


def deep_cnn(input_shape: tuple[int, ...], num_classes: int):
    """A deeper CNN: two blocks of two 3x3 convolutions with batch normalization, then a dense
    layer; dropout after each block (about 0.9 M weights on 28x28x1)."""
    keras = _keras()
    layers = keras.layers

    def conv(filters, name):
        return [
            layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name),
            layers.BatchNormalization(name=f"{name}_bn"),
            layers.Activation("relu", name=f"{name}_relu"),
        ]

    return keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            *conv(32, "conv1"),
            *conv(32, "conv2"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Dropout(0.2, name="drop1"),
            *conv(64, "conv3"),
            *conv(64, "conv4"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Dropout(0.3, name="drop2"),
            layers.Flatten(name="flatten"),
            layers.Dense(256, use_bias=False, name="dense"),
            layers.BatchNormalization(name="dense_bn"),
            layers.Activation("relu", name="dense_relu"),
            layers.Dropout(0.4, name="drop3"),
            layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32"),
        ],
        name="deep_cnn",
    )


def fast_cnn(input_shape: tuple[int, ...], num_classes: int):
    """A small CNN for the `fast` preset (about 0.1 M weights on 28x28x1): a 5x5 convolution (16)
    and a 3x3 convolution (32), each with batch normalization and 2x2 max pooling, then Dense(128);
    about a third of the seed CNN's time per epoch, and past 99 % in two epochs."""
    keras = _keras()
    layers = keras.layers

    def conv(filters, size, name):
        return [
            layers.Conv2D(filters, size, use_bias=False, name=name),
            layers.BatchNormalization(momentum=0.9, name=f"{name}_bn"),
            layers.Activation("relu", name=f"{name}_relu"),
            layers.MaxPooling2D(2, name=f"{name}_pool"),
        ]

    return keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            *conv(16, 5, "conv1"),
            *conv(32, 3, "conv2"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="dense"),
            layers.Dropout(0.1, name="dropout"),
            layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32"),
        ],
        name="fast_cnn",
    )


def strided_cnn(input_shape: tuple[int, ...], num_classes: int):
    """A CNN that learns its own downsampling: two blocks of two 3x3 convolutions and a 5x5
    convolution of stride 2 (in place of pooling), then a 4x4 convolution to 128 features; batch
    normalization after every convolution, dropout after each block (about 0.3 M weights on
    28x28x1). A different shape from `deep_cnn` at about the same cost, so the two make
    different mistakes: a partner for it in an ensemble (`digitrec ensemble`)."""
    keras = _keras()
    layers = keras.layers

    def conv(filters, size, name, strides=1, padding="valid"):
        return [
            layers.Conv2D(filters, size, strides=strides, padding=padding, use_bias=False, name=name),
            layers.BatchNormalization(name=f"{name}_bn"),
            layers.Activation("relu", name=f"{name}_relu"),
        ]

    return keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            *conv(32, 3, "conv1"),
            *conv(32, 3, "conv2"),
            *conv(32, 5, "down1", strides=2, padding="same"),
            layers.Dropout(0.4, name="drop1"),
            *conv(64, 3, "conv3"),
            *conv(64, 3, "conv4"),
            *conv(64, 5, "down2", strides=2, padding="same"),
            layers.Dropout(0.4, name="drop2"),
            *conv(128, 4, "conv5"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.4, name="drop3"),
            layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32"),
        ],
        name="strided_cnn",
    )


MODELS: dict[str, Callable] = {
    "seed_cnn": seed_cnn,
    "classic_cnn": classic_cnn,
    "deep_cnn": deep_cnn,
    "fast_cnn": fast_cnn,
    "strided_cnn": strided_cnn,
}


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int):
    """Build the named model (uncompiled) for images of `input_shape` and `num_classes` classes."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise DigitrecError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    return builder(tuple(input_shape), int(num_classes))
