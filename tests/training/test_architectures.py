"""Model builders: shape in, shape out, for every dataset shape."""

import numpy as np
import pytest

from digitrec.errors import DigitrecError
from digitrec.training.architectures import MODELS, build_model


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape, classes", [((28, 28, 1), 10), ((32, 32, 3), 10), ((28, 28, 1), 4)])
def test_builder_shapes(name, shape, classes):
    model = build_model(name, shape, classes)
    assert model.input_shape == (None, *shape)
    assert model.output_shape == (None, classes)
    out = model.predict(np.zeros((2, *shape), np.float32), verbose=0)
    assert out.shape == (2, classes)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)  # softmax probabilities


def test_seed_cnn_is_the_classic_layout():
    model = build_model("seed_cnn", (28, 28, 1), 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]
    assert model.count_params() == 1_199_882


def test_classic_cnn_is_the_tutorials_layers_in_two_blocks():
    model = build_model("classic_cnn", (28, 28, 1), 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    block = ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout"]
    assert kinds == [*block, *block, "Flatten", "Dense", "Dropout", "Dense"]
    assert set(kinds) == {"Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense"}  # the tutorial's layer kinds
    assert model.get_layer("pool2").output.shape[1:] == (5, 5, 64)


def test_unknown_model():
    with pytest.raises(DigitrecError, match="unknown model 'resnet9000'"):
        build_model("resnet9000", (28, 28, 1), 10)
