"""Flags no other test passed: each through the real `digitrec` entry point, as a user passes it,
with an assertion that fails if the flag were ignored."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import numpy as np
from PIL import Image, ImageDraw

from digitrec.store import PRETRAINED
from tests.support.helpers import draw_digit, run_cli
from tests.support.serverproc import Server, multipart

SHIPPED = str(PRETRAINED.with_suffix(".tflite"))


def _dash(path) -> None:
    """A long dash: ink that passes every ink rule, and that the shipped model doubts is a digit."""
    image = Image.new("L", (300, 220), 235)
    ImageDraw.Draw(image).line([(40, 110), (260, 110)], fill=20, width=14)
    image.save(path)


def test_predict_min_confidence_decides_between_an_answer_and_no_digit(tmp_path):
    _dash(tmp_path / "dash.png")
    default = json.loads(run_cli("predict", str(tmp_path / "dash.png"), "--model", SHIPPED, "--json").stdout)
    assert default["digit"] is None and default["no_digit"] == "not a digit", default
    low = json.loads(
        run_cli("predict", str(tmp_path / "dash.png"), "--model", SHIPPED, "--json", "--min-confidence", "0").stdout
    )
    assert low["digit"] == default["best_guess"] and "reason" not in low


def test_explain_a_digit_asked_for_with_gradient_x_input(good_run, tmp_path):
    draw_digit("7").save(tmp_path / "seven.png")
    args = ["explain", str(tmp_path / "seven.png"), "--model", str(good_run.run_dir), "--out", str(tmp_path)]
    proc = run_cli(*args, "--digit", "3", "--method", "gradient-x-input", "--json")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["digit"] == 3 and answer["answer"] == 7 and answer["method"] == "gradient x input"
    assert (tmp_path / "seven-explain.png").is_file()


def test_export_one_format_without_the_check(good_run, tmp_path):
    out = tmp_path / "export"
    proc = run_cli("export", "--model", str(good_run.run_dir), "--format", "tflite", "--no-check", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "model.tflite").stat().st_size > 10_000 and not (out / "savedmodel").exists()
    assert "agrees" not in proc.stdout  # not checked against Keras


def test_serve_max_pixels_and_host(good_run):
    big = Image.new("L", (60, 60), 255)  # 3,600 pixels, over the limit of 2,000
    body, ctype = multipart([("big.png", "image/png", _png(big))])
    small = multipart([("seven.png", "image/png", _png(draw_digit("7", size=(40, 40))))])
    flags = ["--workers", "1", "--max-pixels", "2000", "--host", "127.0.0.1"]
    with Server("--model", str(good_run.run_dir), *flags) as s:
        request = urllib.request.Request(s.url + "/predict", data=body, headers={"Content-Type": ctype})
        try:
            urllib.request.urlopen(request, timeout=30)
            status, detail = 200, ""
        except urllib.error.HTTPError as refused:
            status, detail = refused.code, json.loads(refused.read())["detail"]
        request = urllib.request.Request(s.url + "/predict", data=small[0], headers={"Content-Type": small[1]})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    assert status == 422 and detail.endswith("60x60 pixels is too large (limit 2,000)")


def _png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_data_prepare_force_rebuilds_the_cache(mnist):
    cache = os.path.join(os.environ["DIGITREC_DATA_DIR"], "mnist.npz")
    before = os.stat(cache).st_mtime_ns
    proc = run_cli("data", "prepare", "--force", "--offline")
    assert proc.returncode == 0, proc.stderr
    assert os.stat(cache).st_mtime_ns > before and "checksum" in proc.stdout and "matches" in proc.stdout


def test_train_on_a_data_file_of_ones_own(mnist, tmp_path):
    """Ten classes of your own (here: MNIST's first images with the labels shifted by one)."""
    mine = tmp_path / "mine.npz"
    np.savez(mine, x_train=mnist.x_train[:400], y_train=(mnist.y_train[:400] + 1) % 10,
             x_test=mnist.x_test[:100], y_test=(mnist.y_test[:100] + 1) % 10)  # fmt: skip
    run = tmp_path / "run"
    args = ["--preset", "tutorial", "--dataset", "shifted", "--data-file", str(mine), "--epochs", "1"]
    proc = run_cli("train", *args, "--no-tensorboard", "--run-dir", str(run), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["test_samples"] == 100
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["dataset"]["name"] == "shifted" and meta["dataset"]["train_samples"] == 360  # a tenth validates
