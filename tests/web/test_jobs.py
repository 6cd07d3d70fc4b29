"""web.jobs: each job is a plain function of a Predictor returning its HTTP status and JSON body,
the same in the service's threads and in its worker processes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from digitrec.reading.predictor import Predictor
from digitrec.web.jobs import model_info, run_job
from digitrec.web.logs import ServerLog
from tests.support.helpers import draw_digit


@pytest.fixture(scope="module")
def predictor(good_run):
    return Predictor(good_run.run_dir)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_digit_a_number_and_a_batch(predictor):
    status, body = run_job(predictor, "one", ("one.png", _png(draw_digit("1", size=(200, 260))), False))
    answer = json.loads(body)
    assert status == 200 and answer["digit"] == 1 and answer["model"] == predictor.name
    status, body = run_job(predictor, "batch", ([(None, np.zeros((28, 28), np.float32))],))
    assert status == 200 and json.loads(body)["predictions"][0]["digit"] is None  # a blank: no digit
    status, body = run_job(predictor, "number", ("n.png", _png(Image.new("L", (90, 40), 230))))
    assert status == 200 and json.loads(body)["number"] is None


def test_an_unreadable_image_is_the_clients_422_and_a_bug_the_servers_500(predictor, capfd):
    status, body = run_job(predictor, "one", ("x.png", b"not an image", False))
    assert status == 422 and "detail" in json.loads(body)
    status, body = run_job(predictor, "one", ("x", object(), False))  # a bug's input: still an answer
    assert status == 500 and json.loads(body)["detail"] == "the server failed on this request (TypeError)"
    err = capfd.readouterr().err  # and the traceback in the server's log
    assert "digitrec serve: one job failed:" in err and "Traceback (most recent call last)" in err


def test_a_bug_in_a_job_is_one_json_object_in_a_json_log(predictor, capfd):
    status, _ = run_job(predictor, "one", ("x", object(), False), log=ServerLog("json"))
    (line,) = capfd.readouterr().err.splitlines()
    entry = json.loads(line)
    assert status == 500 and (entry["level"], entry["message"]) == ("error", "digitrec serve: one job failed")
    assert entry["traceback"].startswith("Traceback (most recent call last)") and "TypeError" in entry["traceback"]


def test_model_info_names_the_run(predictor, good_run):
    info = model_info(predictor)
    assert info["name"] == good_run.run_dir.name and info["backend"] == "litert" and not info["shipped"]
    assert info["label"] == f"run {good_run.run_dir.name} (LiteRT)" == predictor.choice.label()
