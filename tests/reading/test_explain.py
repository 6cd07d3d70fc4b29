"""explain: the attribution lies on the ink and depends on what the model learned (a copy with
re-initialised weights gives another map), the feature maps have their layers' shapes, and
`digitrec explain` draws the figure, prints the JSON, and refuses bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from digitrec.errors import DigitrecError
from digitrec.reading import explain
from digitrec.reading.preprocess import to_mnist_array
from tests.support.helpers import draw_digit, run_cli


@pytest.fixture(scope="module")
def model(good_run):
    return explain.keras_model_for(good_run.run_dir)[0]  # a run answers from LiteRT: its Keras file


@pytest.fixture(scope="module")
def drawn():
    return {d: to_mnist_array(draw_digit(d, size=(200, 260))) for d in "10"}


def test_the_attribution_lies_on_the_ink_of_a_drawn_one_and_zero(model, drawn):
    for digit, image in drawn.items():
        result = explain.explain(model, image, digit=int(digit))
        assert result.digit == int(digit) and len(result.probabilities) == 10
        assert result.attribution.shape == (28, 28) and result.attribution.min() >= 0
        assert abs(float(result.attribution.sum()) - 1.0) < 1e-5
        assert explain.ink_share(result) >= 0.5


def test_a_model_with_re_initialised_weights_gives_another_map(model, drawn):
    import keras

    keras.utils.set_random_seed(11)  # fresh random weights, the same ones every run
    scrambled = keras.models.clone_model(model)  # the same layers
    for image in drawn.values():
        trained = explain.explain(model, image, digit=1).attribution
        random = explain.explain(scrambled, image, digit=1).attribution
        ink = image > 0.2
        assert spearmanr(trained[ink], random[ink]).correlation < 0.6  # the order of the ink pixels differs


def test_feature_maps_have_the_shapes_of_their_layers(model, drawn):
    result = explain.explain(model, drawn["1"], digit=7)  # "why not a 7?"
    assert result.digit == 7
    expected = [(layer.name, tuple(layer.output.shape[1:])) for layer in model.layers
                if type(layer).__name__ in ("Conv2D", "MaxPooling2D")]  # fmt: skip
    assert [(m.name, m.maps.shape) for m in result.layers] == expected and expected
    with pytest.raises(DigitrecError, match="between 0 and 9"):
        explain.explain(model, drawn["1"], digit=12)


def test_the_cli_draws_the_figure_and_prints_the_json(good_run, tmp_path):
    draw_digit("1", size=(200, 260)).save(tmp_path / "one.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    proc = run_cli("explain", str(tmp_path / "one.png"), "--model", str(good_run.run_dir), "--json",
                   "--out", str(tmp_path / "figures"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["digit"] == 1 and len(answer["input"]) == 28 and len(answer["attribution"]) == 28
    assert abs(sum(map(sum, answer["attribution"])) - 1.0) < 1e-3
    assert [layer["name"] for layer in answer["layers"]][:2] == ["conv1", "conv2"]
    assert (tmp_path / "figures" / "one-explain.png").is_file()
    bad = run_cli("explain", str(tmp_path / "broken.png"), "--model", str(good_run.run_dir), "--out", str(tmp_path))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("digitrec: error:")


def test_the_cli_explains_no_map_for_a_blank_page(good_run, tmp_path):
    """The no-digit rules come first, as in `predict`: a blank image gets its verdict, no figure."""
    from PIL import Image

    Image.new("L", (120, 90), 250).save(tmp_path / "blank.png")
    out = tmp_path / "figures"
    args = ["explain", str(tmp_path / "blank.png"), "--model", str(good_run.run_dir), "--out", str(out)]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    said = f"{tmp_path / 'blank.png'}: no digit, nothing to explain: no ink found (a blank or too faint image)"
    assert proc.stdout.strip() == said
    assert not out.exists()
    proc = run_cli(*args, "--json")
    answer = json.loads(proc.stdout)
    assert answer["digit"] is None and answer["no_digit"] == "no ink" and "figure" not in answer and not out.exists()


def test_a_litert_file_alone_is_explained_by_occlusion_not_by_gradients(good_run, tmp_path, drawn):
    lonely = tmp_path / "model.tflite"
    lonely.write_bytes((good_run.run_dir / "model.tflite").read_bytes())
    network, _ = explain.network_for(lonely)
    assert isinstance(network, explain.LiteRTNetwork)
    assert explain.explain(network, drawn["1"]).method == "occlusion"
    with pytest.raises(DigitrecError, match="LiteRT keeps no gradients"):
        explain.network_for(lonely, method="integrated gradients")
    with pytest.raises(DigitrecError, match="needs the Keras model"):
        explain.explain(network, drawn["1"], method="gradient x input")


def test_litert_shows_the_same_layers_as_keras(good_run, model, drawn):
    network, _ = explain.network_for(good_run.run_dir)
    litert = explain.explain(network, drawn["0"], digit=0)
    keras = explain.explain(model, drawn["0"], digit=0)
    assert [(m.name, m.maps.shape) for m in litert.layers] == [(m.name, m.maps.shape) for m in keras.layers]
    first_litert, first_keras = litert.layers[0].maps, keras.layers[0].maps
    assert np.corrcoef(first_litert.ravel(), first_keras.ravel())[0, 1] > 0.99  # the same activations


def test_occlusion_lies_on_the_ink_and_depends_on_the_weights(good_run, model, drawn):
    import keras

    network, _ = explain.network_for(good_run.run_dir)
    keras.utils.set_random_seed(12)
    scrambled = keras.models.clone_model(model)
    for digit, image in drawn.items():
        result = explain.explain(network, image, digit=int(digit))
        assert result.method == "occlusion" and abs(float(result.attribution.sum()) - 1.0) < 1e-5
        assert explain.ink_share(result) >= 0.5
        random = explain.explain(scrambled, image, digit=int(digit), method="occlusion").attribution
        ink = image > 0.2
        assert spearmanr(result.attribution[ink], random[ink]).correlation < 0.6


def test_the_cli_explains_a_run_without_importing_tensorflow(good_run, tmp_path):
    import subprocess
    import sys

    draw_digit("7", size=(200, 260)).save(tmp_path / "seven.png")
    code = (
        "import sys; from digitrec.cli.main import main; "
        f"rc = main(['explain', {str(tmp_path / 'seven.png')!r}, '--model', {str(good_run.run_dir)!r}, "
        f"'--json', '--out', {str(tmp_path)!r}]); "
        "print('tensorflow' in sys.modules); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer, imported = proc.stdout.strip().splitlines()
    assert json.loads(answer)["method"] == "occlusion" and imported == "False"
